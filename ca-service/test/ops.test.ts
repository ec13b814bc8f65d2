import { manualClock } from '@lantern/shared';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CaMetrics } from '../src/observability/metrics.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}${path}`, 'utf8');

/** Series names a query may use: every metric of a CA's registry, histograms with suffixes. */
const exported = new Set(
  new CaMetrics({ db: new Database(':memory:'), clock: manualClock(0) }).seriesNames(),
);
/** Series Prometheus itself adds to every scrape target. */
const SYNTHETIC = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression selects (strings, matchers, ranges, groupings dropped). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const rest = bare.slice((match.index ?? 0) + match[0].length);
    if (/^\s*\(/.test(rest)) continue; // a function or aggregation
    if (KEYWORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return names;
}

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

interface Rule {
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const dashboard = JSON.parse(read('ops/grafana/lantern-dashboard.json')) as {
  title: string;
  uid: string;
  panels: Panel[];
};
const rules = (
  parseYaml(read('ops/prometheus/alerts.yml')) as { groups: { name: string; rules: Rule[] }[] }
).groups.flatMap((group) => group.rules);
const alerts = rules.filter((rule): rule is Rule & { alert: string } => rule.alert !== undefined);

describe('the Prometheus metric name extractor used below', () => {
  it('finds metric names and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{route="/x",le=~"0.1"}[5m]))) > 0.1 and on () sum(b) / sum without (x) (c_total) unless up == 0',
      ),
    ).toEqual(['a_bucket', 'b', 'c_total', 'up']);
  });
});

describe('Grafana dashboard', () => {
  const all = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
  const exprs = all.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));

  it('parses, and has an SRE row and a security row with panels', () => {
    expect(dashboard.uid).toBe('lantern-ca');
    const rows = dashboard.panels.filter((panel) => panel.type === 'row').map((row) => row.title);
    expect(rows).toEqual(['SRE', 'Security']);
    expect(exprs.length).toBeGreaterThan(20);
  });

  it('queries only metric names the service exports', () => {
    const unknown = exprs
      .flatMap(metricNames)
      .filter((name) => !exported.has(name) && !SYNTHETIC.has(name));
    expect(unknown).toEqual([]);
  });

  it('shows every identity_* metric', () => {
    const used = new Set(exprs.flatMap(metricNames));
    const missing = [...exported]
      .filter((name) => name.startsWith('identity_'))
      .filter((name) => ![name, `${name}_bucket`, `${name}_count`].some((n) => used.has(n)))
      .filter((name) => !/_(bucket|sum|count)$/.test(name));
    expect(missing).toEqual([]);
  });
});

describe('Prometheus alert rules', () => {
  it('cover the operational and security conditions', () => {
    expect(alerts.map((rule) => rule.alert).sort()).toEqual(
      [
        'LanternCaDown',
        'LanternCaHighErrorRate',
        'LanternCredentialStuffing',
        'LanternDlqNotEmpty',
        'LanternLockoutSpike',
        'LanternLoginLatencyHigh',
        'LanternOfflineCertsExpiringSoon',
        'LanternOutboxStalled',
        'LanternRotationReuseSpike',
      ].sort(),
    );
  });

  it('query only exported metric names, with a severity and a summary', () => {
    for (const rule of alerts) {
      const unknown = metricNames(rule.expr).filter(
        (name) => !exported.has(name) && !SYNTHETIC.has(name),
      );
      expect(unknown, rule.alert).toEqual([]);
      expect(rule.labels?.['severity'], rule.alert).toMatch(/^(critical|warning|info)$/);
      expect(rule.annotations?.['summary'], rule.alert).toEqual(expect.any(String));
    }
  });

  it('each link a runbook that exists and says what it means, how to check, how to fix', () => {
    for (const rule of alerts) {
      const url = rule.annotations?.['runbook_url'];
      expect(url, rule.alert).toBe(`ops/runbooks/${rule.alert}.md`);
      expect(existsSync(`${ROOT}${url}`), `${url} exists`).toBe(true);
      const text = read(url ?? '');
      expect(text.startsWith(`# ${rule.alert}\n`), `${url} title`).toBe(true);
      for (const section of ['## What it means', '## How to check', '## How to fix']) {
        expect(text, `${url}: ${section}`).toContain(section);
      }
    }
    // And no runbook is left without its alert.
    expect(
      readdirSync(`${ROOT}ops/runbooks`)
        .map((file) => file.replace(/\.md$/, ''))
        .sort(),
    ).toEqual(alerts.map((rule) => rule.alert).sort());
  });

  const promtool = (() => {
    try {
      execFileSync('promtool', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!promtool)('pass promtool check rules and the rule unit tests', () => {
    execFileSync('promtool', ['check', 'rules', 'ops/prometheus/alerts.yml'], { cwd: ROOT });
    execFileSync('promtool', ['test', 'rules', 'ops/prometheus/alerts.test.yml'], { cwd: ROOT });
  });
});
