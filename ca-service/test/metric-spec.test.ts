import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import type { MetricDefinition } from '../src/observability/metric-spec.js';
import { LANTERN_METRICS, SPEC_METRICS } from '../src/observability/metric-spec.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The "Out of scope" table of docs/observability.md: metric name → reason. */
function outOfScope(): Map<string, string> {
  const doc = readFileSync(`${ROOT}docs/observability.md`, 'utf8');
  const section = doc.split('### Out of scope')[1]?.split('\n### ')[0] ?? '';
  const rows = new Map<string, string>();
  for (const [, name = '', reason = ''] of section.matchAll(
    /^\|\s*`(identity_\w+)`\s*\|\s*(.+?)\s*\|$/gm,
  )) {
    rows.set(name, reason.trim());
  }
  return rows;
}

interface Exported {
  type: string;
  /** Label names seen on the samples (histogram `le` dropped). */
  labels: Set<string>;
}

/** `# TYPE` lines and the label names of every sample, per metric family. */
function exportedFamilies(text: string): Map<string, Exported> {
  const families = new Map<string, Exported>();
  for (const [, name = '', type = ''] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    families.set(name, { type, labels: new Set() });
  }
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*?)(_bucket|_sum|_count)?(?:\{(.*)\})?\s+\S+$/.exec(
      line,
    );
    if (!match) continue;
    const family = families.get(match[1] ?? '') ?? families.get(`${match[1]}${match[2] ?? ''}`);
    for (const [, label = ''] of (match[3] ?? '').matchAll(/([a-zA-Z_]\w*)="/g)) {
      if (label !== 'le') family?.labels.add(label);
    }
  }
  return families;
}

let ca: TestCa;
let families: Map<string, Exported>;
let registered: Map<string, { type: string; labelNames: string[] }>;

beforeAll(async () => {
  ca = await startTestCa();
  await createTenant(ca, 'Hillside');
  const response = await ca.app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  families = exportedFamilies(response.body);
  registered = new Map(
    ca.ctx.metrics.registry.getMetricsAsArray().map((metric) => [
      metric.name,
      {
        type: String(metric.type),
        labelNames: [...((metric as unknown as { labelNames?: string[] }).labelNames ?? [])],
      },
    ]),
  );
});
afterAll(async () => ca.close());

function differences(definition: MetricDefinition): string[] {
  const found = families.get(definition.name);
  if (!found) return [`${definition.name}: not exported`];
  const problems: string[] = [];
  if (found.type !== definition.type)
    problems.push(`${definition.name}: type ${found.type}, spec ${definition.type}`);
  const declared = [...(registered.get(definition.name)?.labelNames ?? [])].sort();
  const wanted = [...definition.labels].sort();
  if (declared.join(',') !== wanted.join(','))
    problems.push(`${definition.name}: labels [${declared}], spec [${wanted}]`);
  // Samples already in the exposition must carry exactly those labels.
  const seen = [...found.labels].sort();
  if (seen.length > 0 && seen.join(',') !== wanted.join(','))
    problems.push(`${definition.name}: samples carry [${seen}], spec [${wanted}]`);
  return problems;
}

describe('exported metrics against the spec table', () => {
  it('exports every spec metric with its type and labels, except the documented out-of-scope ones', () => {
    const excluded = outOfScope();
    const problems = SPEC_METRICS.filter((definition) => !excluded.has(definition.name)).flatMap(
      differences,
    );
    expect(problems).toEqual([]);
  });

  it('lists as out of scope only spec metrics, each with a reason, and exports none of them', () => {
    const excluded = outOfScope();
    expect(excluded.size).toBeGreaterThan(0);
    const specNames = new Set(SPEC_METRICS.map((definition) => definition.name));
    for (const [name, reason] of excluded) {
      expect(specNames.has(name), `${name} is in the spec`).toBe(true);
      expect(reason.length, `${name} has a reason`).toBeGreaterThan(10);
      expect(families.has(name), `${name} is not exported`).toBe(false);
    }
  });

  it('exports no identity_* family outside the spec and Lantern tables', () => {
    const known = new Map([...SPEC_METRICS, ...LANTERN_METRICS].map((d) => [d.name, d]));
    const unknown = [...families.keys()].filter(
      (name) => name.startsWith('identity_') && !known.has(name),
    );
    expect(unknown).toEqual([]);
    expect(LANTERN_METRICS.flatMap(differences)).toEqual([]);
  });

  it('starts known label values at 0, tenant series included', async () => {
    const text = [...families.keys()];
    expect(text).toContain('identity_login_failures_total');
    const tenantId = (await ca.ctx.store.db.prepare('SELECT tenant_id FROM tenants').get()) as {
      tenant_id: string;
    };
    return ca.app.inject({ method: 'GET', url: '/metrics' }).then((response) => {
      for (const series of [
        'identity_login_failures_total{method="password",reason="invalid_credentials"} 0',
        'identity_mfa_challenges_total{factor="totp",result="challenged"} 0',
        'identity_device_revocations_total{reason="lost"} 0',
        'identity_http_requests_total{route="/v1/auth/login",method="POST",status_class="5xx"} 0',
        `identity_login_attempts_total{method="password",result="failure",tenant_id="${tenantId.tenant_id}"} 0`,
        `identity_device_registrations_total{tenant_id="${tenantId.tenant_id}"} 0`,
        'identity_outbox_publish_rate{topic="identity.device.revoked"} 0',
        'identity_login_duration_seconds_count{method="password"} 0',
      ]) {
        expect(response.body).toContain(`\n${series}\n`);
      }
    });
  });
});
