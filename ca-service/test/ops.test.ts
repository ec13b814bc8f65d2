import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}${path}`, 'utf8');

const SPEC_ALERTS = [
  'IdentityDown',
  'IdentityHighErrorRate',
  'IdentityKMSUnavailable',
  'IdentityRotationReuseSpike',
  'IdentityJWTKeyRotationFailed',
  'IdentityOutboxStalled',
  'IdentityDLQNonEmpty',
  'IdentityLoginLatencyHigh',
  'IdentityCredentialStuffing',
  'IdentityAccountLockoutSpike',
  'IdentityMFAAdoptionDrop',
  'IdentityOfflineCertsExpiring',
  'IdentityAPIKeyRotationOverdue',
];
/** The SLO thresholds of spec §5 as alerts. */
const SLO_ALERTS = [
  'IdentitySSOCallbacksFailing',
  'IdentityAuthErrorBudgetBurnFast',
  'IdentityAuthErrorBudgetBurnSlow',
  'IdentityRefreshLatencyHigh',
  'IdentityJWKSUnavailable',
  'IdentityOutboxPublishLagHigh',
  'IdentityAuthErrorRateHigh',
];

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
  for (const match of bare.matchAll(/(?<![0-9.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
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

interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query?: unknown }[] };
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const DASHBOARDS = ['identity-sre', 'identity-security', 'identity-tenant'];
const dashboards = DASHBOARDS.map(
  (uid) => JSON.parse(read(`ops/grafana/${uid}.json`)) as Dashboard,
);
const ruleFile = (path: string) =>
  (parseYaml(read(path)) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap(
    (group) => group.rules,
  );
const recordings = ruleFile('ops/prometheus/slo-rules.yml');
const alerts = ruleFile('ops/prometheus/alerts.yml').filter(
  (rule): rule is Rule & { alert: string } => rule.alert !== undefined,
);
const recorded = new Set(recordings.map((rule) => rule.record));

/** Series names a query may use, read from a running CA's `/metrics` (histograms with suffixes). */
let exported: Set<string>;
let ca: TestCa;
beforeAll(async () => {
  ca = await startTestCa();
  await createTenant(ca, 'Hillside');
  const response = await ca.app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  // Families as `# TYPE` declares them (a labelled counter may have no sample yet).
  exported = new Set(
    [...response.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name = '', type]) =>
      type === 'histogram' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name],
    ),
  );
});
afterAll(async () => ca.close());

describe('the Prometheus metric name extractor used below', () => {
  it('finds metric names and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.95, sum by (le) (rate(a_bucket{route="/x",le=~"0.1"}[5m]))) > 0.1 and on () sum(b) / sum without (x) (c_total) unless up == 0',
      ),
    ).toEqual(['a_bucket', 'b', 'c_total', 'up']);
  });
});

describe.each(DASHBOARDS.map((uid, index) => [uid, dashboards[index] as Dashboard] as const))(
  'Grafana dashboard %s',
  (_uid, dashboard) => {
    const all = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
    const exprs = all.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));

    it('has panels, and a job variable instead of a hard-coded job', () => {
      expect(exprs.length).toBeGreaterThan(4);
      expect(dashboard.templating.list.map((variable) => variable.name)).toContain('job');
      for (const expr of exprs) expect(expr).toContain('job=~"$job"');
      expect(JSON.stringify(dashboard)).not.toMatch(/job="/);
    });

    it('queries only metric names the running service exports', () => {
      const unknown = exprs
        .flatMap(metricNames)
        .filter((name) => !exported.has(name) && !SYNTHETIC.has(name));
      expect(unknown).toEqual([]);
    });
  },
);

describe('dashboards together', () => {
  it('show every identity_* metric the service exports', () => {
    const exprs = dashboards.flatMap((dashboard) =>
      dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr)),
    );
    const used = new Set(exprs.flatMap(metricNames));
    const missing = [...exported]
      .filter((name) => name.startsWith('identity_'))
      .filter((name) => ![name, `${name}_bucket`, `${name}_count`].some((n) => used.has(n)))
      .filter((name) => !/_(bucket|sum|count)$/.test(name));
    expect(missing).toEqual([]);
  });
});

describe('Prometheus alert and SLO rules', () => {
  it('have every alert of the spec and of the SLO thresholds', () => {
    expect(alerts.map((rule) => rule.alert).sort()).toEqual([...SPEC_ALERTS, ...SLO_ALERTS].sort());
  });

  it('query only exported metrics or recorded series, with a severity and a summary', () => {
    for (const rule of [...recordings, ...alerts]) {
      const unknown = metricNames(rule.expr).filter(
        (name) => !exported.has(name) && !SYNTHETIC.has(name) && !recorded.has(name),
      );
      expect(unknown, rule.alert ?? rule.record).toEqual([]);
    }
    for (const rule of alerts) {
      expect(rule.labels?.['severity'], rule.alert).toMatch(/^(critical|high|warning)$/);
      expect(rule.annotations?.['summary'], rule.alert).toEqual(expect.any(String));
    }
  });

  it('each link a runbook that names the alert and says what it means, how to check, how to fix', () => {
    const linked = new Set<string>();
    for (const rule of alerts) {
      const url = rule.annotations?.['runbook_url'] ?? '';
      expect(url, rule.alert).toMatch(/^ops\/runbooks\/identity\/[a-z-]+\.md$/);
      expect(existsSync(`${ROOT}${url}`), `${url} exists`).toBe(true);
      const text = read(url);
      expect(text, `${url} names ${rule.alert}`).toContain(`\`${rule.alert}\``);
      for (const section of ['## What it means', '## How to check', '## How to fix']) {
        expect(text, `${url}: ${section}`).toContain(section);
      }
      linked.add(url.replace('ops/runbooks/identity/', ''));
    }
    // And no runbook is left without an alert.
    expect(readdirSync(`${ROOT}ops/runbooks/identity`).sort()).toEqual([...linked].sort());
  });

  it('pass promtool check rules, check config and the rule unit tests (the weekly ones: .ci/run)', () => {
    const missing = (() => {
      try {
        execFileSync('promtool', ['--version'], { stdio: 'ignore' });
        return false;
      } catch {
        return true;
      }
    })();
    if (missing) throw new Error('promtool missing: apt-get install prometheus (.ci/run does)');
    const run = (...args: string[]) => execFileSync('promtool', args, { cwd: ROOT });
    run('check', 'rules', 'ops/prometheus/slo-rules.yml', 'ops/prometheus/alerts.yml');
    run('check', 'config', 'ops/prometheus/prometheus.yml');
    run('test', 'rules', 'ops/prometheus/slo-rules.test.yml', 'ops/prometheus/alerts.test.yml');
  });
});
