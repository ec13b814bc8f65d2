import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import type { EventBackbone } from '../src/event-backbone.js';
import { backboneRelayStatus, startEventBackbone } from '../src/event-backbone.js';

const RULES = fileURLToPath(new URL('../../ops/prometheus/', import.meta.url));
const MINUTES = 12;
const SERIES = [
  'identity_outbox_relay_enabled',
  'identity_outbox_depth',
  'identity_outbox_lag_seconds',
] as const;

let ca: TestCa | undefined;
let backbone: EventBackbone | undefined;
afterEach(async () => {
  await backbone?.stop();
  await ca?.close();
});

function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { encoding: 'utf8' });
  } catch (error) {
    const failure = error as { code?: string; stdout?: string; stderr?: string };
    if (failure.code === 'ENOENT')
      throw new Error('promtool missing: apt-get install prometheus (.ci/run does)');
    throw new Error(`${failure.stdout ?? ''}${failure.stderr ?? ''}`);
  }
}

/**
 * Runs a CA for MINUTES minutes of its (frozen, stepped) clock with a tenant created every
 * minute, scraping `/metrics` once a minute like Prometheus, and returns the outbox series in
 * promtool's notation (`_` where a scrape had no sample).
 */
async function scrapeForAWhile(nats: string | undefined): Promise<Record<string, string>> {
  ca = await startTestCa();
  backbone = startEventBackbone({
    ctx: ca.ctx,
    checkpointIntervalMs: 0,
    ...(nats === undefined ? {} : { nats, relay: { maxAttempts: 1 } }),
  });
  ca.ctx.metrics.relayStatus = backboneRelayStatus(backbone, nats !== undefined);
  const values: Record<string, string[]> = Object.fromEntries(SERIES.map((name) => [name, []]));
  for (let minute = 0; minute <= MINUTES; minute += 1) {
    await createTenant(ca, `School ${minute}`);
    const body = (await ca.app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const name of SERIES) {
      const sample = new RegExp(`^${name} (\\S+)$`, 'm').exec(body)?.[1];
      values[name]?.push(sample ?? '_');
    }
    ca.clock.advance(60_000);
  }
  return Object.fromEntries(SERIES.map((name) => [name, (values[name] ?? []).join(' ')]));
}

/** The promtool unit test: the two outbox alerts, expected to fire or not at the end. */
function outboxAlertsFire(series: Record<string, string>, expected: boolean): void {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-promtool-'));
  try {
    const evalTime = `${MINUTES}m`;
    const stalled = expected ? [{ exp_labels: { severity: 'critical', job: 'lantern' } }] : [];
    const test = {
      rule_files: [join(RULES, 'slo-rules.yml'), join(RULES, 'alerts.yml')],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: Object.entries(series).map(([name, values]) => ({
            series: `${name}{job="lantern"}`,
            values,
          })),
          alert_rule_test: [
            { eval_time: evalTime, alertname: 'IdentityOutboxStalled', exp_alerts: stalled },
          ],
        },
      ],
    };
    const file = join(dir, 'outbox.test.yml');
    writeFileSync(file, stringify(test));
    const run = () => promtool('test', 'rules', file);
    if (expected) {
      // Firing alerts carry annotations the test does not spell out: promtool must report
      // that it got exactly this alert (and only the annotations differ).
      expect(run).toThrow(/got:\[\s*0:\s*Labels:\{alertname="IdentityOutboxStalled"/);
    } else {
      expect(run()).toContain('SUCCESS');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the outbox alert on a CA without a broker', () => {
  it('does not fire: relay_enabled 0, depth grows, no lag series', async () => {
    const series = await scrapeForAWhile(undefined);
    expect(series['identity_outbox_relay_enabled']).toBe(
      Array(MINUTES + 1)
        .fill('0')
        .join(' '),
    );
    expect(series['identity_outbox_lag_seconds']).toBe(
      Array(MINUTES + 1)
        .fill('_')
        .join(' '),
    );
    const depths = (series['identity_outbox_depth'] ?? '').split(' ').map(Number);
    expect(depths.at(-1)).toBeGreaterThan(depths[0] ?? 0);
    outboxAlertsFire(series, false);
  });

  it('fires when a relay is configured and its broker never answers', async () => {
    const series = await scrapeForAWhile('nats://127.0.0.1:1');
    expect(series['identity_outbox_relay_enabled']).toBe(
      Array(MINUTES + 1)
        .fill('1')
        .join(' '),
    );
    expect(series['identity_outbox_lag_seconds']).not.toContain('_');
    outboxAlertsFire(series, true);
  });
});
