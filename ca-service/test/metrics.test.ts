import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import type { EnrolledTestDevice } from '../../test/support/device-keys.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';
import { offlineSignin, postAsDevice, syncBody } from '../../test/support/device-requests.js';
import { buildApp } from '../src/app.js';
import type { RelayStatus } from '../src/observability/metrics.js';

type Series = Map<string, number>;

function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const pairs = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort();
  return pairs.length === 0 ? name : `${name}{${pairs.join(',')}}`;
}

/** Prometheus text exposition → `name{sorted labels}` → value. */
function parseExposition(text: string): Series {
  const series: Series = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const [, name = '', rawLabels, value = ''] = match;
    const labels: Record<string, string> = {};
    for (const [, key = '', labelValue = ''] of (rawLabels ?? '').matchAll(
      /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g,
    )) {
      labels[key] = labelValue;
    }
    series.set(seriesKey(name, labels), Number(value));
  }
  return series;
}

let ca: TestCa;
let tenantId: string;
let userId: string;
const PASSWORD = 'correct horse battery';

beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  userId = await createUser(ca, tenantId, 'amina', PASSWORD);
  await createUser(ca, tenantId, 'bilal', 'another long passphrase');
});
afterEach(async () => ca.close());

async function scrape(): Promise<{ text: string; series: Series }> {
  const response = await ca.app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return { text: response.body, series: parseExposition(response.body) };
}

const login = (username: string, password: string) =>
  ca.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: 'hillside', username, password },
  });

const refresh = (refreshToken: string) =>
  ca.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });

describe('GET /metrics', () => {
  it('moves every counter by exactly what a scripted scenario did', async () => {
    // Two failures lock an account, so "2 wrong passwords, 1 lockout" is one sequence.
    ca.ctx.auth = { ...ca.ctx.auth, lockout: { ...ca.ctx.auth.lockout, maxFailures: 2 } };
    const before = (await scrape()).series;
    const statuses: Record<string, number> = {};
    const note = (route: string, status: number) => {
      const key = `${route} ${Math.floor(status / 100)}xx`;
      statuses[key] = (statuses[key] ?? 0) + 1;
    };

    // Enroll 2 devices.
    const devices: EnrolledTestDevice[] = [];
    for (let i = 0; i < 2; i += 1) {
      devices.push(await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId)));
    }
    const [device, other] = devices as [EnrolledTestDevice, EnrolledTestDevice];

    // 3 good logins.
    const tokens: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const response = await login('amina', PASSWORD);
      expect(response.statusCode).toBe(200);
      note('/v1/auth/login', response.statusCode);
      tokens.push((response.json() as { refreshToken: string }).refreshToken);
    }
    // 2 wrong passwords (the second locks bilal), then 1 attempt on the locked account.
    for (let i = 0; i < 2; i += 1) {
      const response = await login('bilal', 'not the passphrase');
      expect(response.statusCode).toBe(401);
      note('/v1/auth/login', response.statusCode);
    }
    const locked = await login('bilal', 'another long passphrase');
    // Answers like an unknown account (issue 15); the metric keeps the real reason.
    expect(locked.json()).toMatchObject({ code: 'invalid_credentials' });
    note('/v1/auth/login', locked.statusCode);

    // 1 refresh, then 1 reuse of the token it rotated.
    const first = tokens[0] ?? '';
    expect((await refresh(first)).statusCode).toBe(200);
    const reused = await refresh(first);
    expect(reused.json()).toMatchObject({ code: 'refresh_token_reused' });

    // 1 revocation.
    const revoked = await ca.admin('POST', `/v1/admin/devices/${other.deviceId}/revoke`, {
      reason: 'lost',
    });
    expect(revoked.statusCode).toBe(200);

    // 1 sync round: 3 events, the third a retry of the first under another sequence number.
    const [a, b] = [offlineSignin(ca, device, userId), offlineSignin(ca, device, userId)];
    const body = syncBody([
      { seq: 1, event: a },
      { seq: 2, event: b },
      { seq: 3, event: a },
    ]);
    const synced = await postAsDevice(ca, device, '/v1/sync', body);
    expect(synced.json()).toMatchObject({ accepted: 2, duplicates: 1, rejected: [] });

    // An unknown URL: counted under `unmatched`, never under its raw path.
    expect(
      (await ca.app.inject({ method: 'GET', url: `/nope/${userId}?user=amina` })).statusCode,
    ).toBe(404);

    const { text, series: after } = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      (after.get(seriesKey(name, labels)) ?? 0) - (before.get(seriesKey(name, labels)) ?? 0);

    const tenant = { tenant_id: tenantId };
    expect(delta('identity_device_registrations_total', tenant)).toBe(2);
    expect(delta('identity_offline_certs_issued_total', tenant)).toBe(2);
    expect(
      delta('identity_login_attempts_total', { method: 'password', result: 'success', ...tenant }),
    ).toBe(3);
    expect(
      delta('identity_login_attempts_total', { method: 'password', result: 'failure', ...tenant }),
    ).toBe(3);
    expect(
      delta('identity_login_failures_total', { method: 'password', reason: 'invalid_credentials' }),
    ).toBe(2);
    expect(
      delta('identity_login_failures_total', { method: 'password', reason: 'account_locked' }),
    ).toBe(1);
    expect(delta('identity_account_locks_total', { reason: 'too_many_failures' })).toBe(1);
    expect(delta('identity_session_refresh_total', { result: 'success' })).toBe(1);
    expect(delta('identity_session_refresh_total', { result: 'reused' })).toBe(1);
    expect(delta('identity_rotation_reuse_detected_total', tenant)).toBe(1);
    expect(delta('identity_device_revocations_total', { reason: 'lost' })).toBe(1);
    expect(delta('identity_sync_rounds_total')).toBe(1);
    expect(delta('identity_sync_events_accepted_total')).toBe(2);
    expect(delta('identity_sync_events_duplicate_total')).toBe(1);
    expect(text).not.toContain('identity_sync_events_rejected_total{');
    expect(delta('identity_sync_request_bytes_total')).toBe(Buffer.byteLength(body));
    expect(delta('identity_offline_signins_reconciled_total')).toBe(2);
    expect(delta('identity_mfa_challenges_total', { factor: 'totp', result: 'challenged' })).toBe(
      0,
    );
    // Errors by the stable code the caller saw: a locked account answers like a wrong password.
    expect(
      delta('identity_http_errors_total', {
        method: 'POST',
        route: '/v1/auth/login',
        code: 'invalid_credentials',
      }),
    ).toBe(3);
    expect(
      delta('identity_http_errors_total', {
        method: 'POST',
        route: '/v1/auth/login',
        code: 'account_locked',
      }),
    ).toBe(0);
    expect(delta('identity_login_duration_seconds_count', { method: 'password' })).toBe(6);

    // Gauges read from the store: 3 sessions, one revoked with its family on reuse.
    expect(after.get(seriesKey('identity_session_count_active', tenant))).toBe(2);
    // 2 active users, neither with a second factor.
    expect(after.get(seriesKey('identity_mfa_adoption_ratio', tenant))).toBe(0);
    expect(after.get('identity_offline_certs_expiring_soon')).toBe(0);
    // No relay in the embedded default: said so, and no lag is reported.
    expect(after.get('identity_outbox_relay_enabled')).toBe(0);
    expect(after.get('identity_outbox_lag_seconds')).toBeUndefined();
    expect(after.get(seriesKey('identity_dlq_depth', { stream: 'outbox' }))).toBe(0);

    // HTTP metrics by route template and status.
    for (const [key, count] of Object.entries(statuses)) {
      const [route = '', statusClass = ''] = key.split(' ');
      expect(
        delta('identity_http_requests_total', { method: 'POST', route, status_class: statusClass }),
        `${key}`,
      ).toBe(count);
    }
    expect(
      delta('identity_http_requests_total', {
        method: 'POST',
        route: '/v1/admin/devices/:id/revoke',
        status_class: '2xx',
      }),
    ).toBe(1);
    expect(
      delta('identity_http_requests_total', {
        method: 'GET',
        route: 'unmatched',
        status_class: '4xx',
      }),
    ).toBe(1);
    expect(
      delta('identity_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/v1/auth/login',
      }),
    ).toBe(6);
    expect(
      after.get(
        seriesKey('identity_http_request_duration_seconds_bucket', {
          method: 'POST',
          route: '/v1/auth/login',
          le: '+Inf',
        }),
      ),
    ).toBe(6);

    // Bounded labels: no user or device id, username, raw URL or token anywhere in the
    // exposition (tenant ids are labels of the spec: one per school, bounded).
    for (const forbidden of [
      userId,
      device.deviceId,
      other.deviceId,
      'amina',
      'bilal',
      '/nope',
      first,
    ]) {
      expect(text).not.toContain(forbidden);
    }
  });

  it('counts active devices whose certificate expires within 7 days', async () => {
    const token = await createEnrollmentToken(ca, tenantId);
    await enrollTestDevice(ca.app, token);
    const validityMs = ca.ctx.bindingProfile.validityDays * 86_400_000;
    ca.clock.advance(validityMs - 8 * 86_400_000);
    expect((await scrape()).series.get('identity_offline_certs_expiring_soon')).toBe(0);
    ca.clock.advance(2 * 86_400_000);
    expect((await scrape()).series.get('identity_offline_certs_expiring_soon')).toBe(1);
    ca.clock.advance(7 * 86_400_000);
    expect((await scrape()).series.get('identity_offline_certs_expiring_soon')).toBe(0);
  });

  it('reports the relay status when a provider is given, relay_enabled 0 while it has none', async () => {
    let status: RelayStatus | undefined = undefined;
    ca.ctx.metrics.relayStatus = () => status;
    expect((await scrape()).series.get('identity_outbox_depth')).toBe(0);
    expect((await scrape()).series.get('identity_outbox_relay_enabled')).toBe(0);
    status = { depth: 42, lagSeconds: 12.5, dlq: 3, inboxDlq: 1, enabled: true };
    const { series } = await scrape();
    expect(series.get('identity_outbox_relay_enabled')).toBe(1);
    expect(series.get('identity_outbox_depth')).toBe(42);
    expect(series.get('identity_outbox_lag_seconds')).toBe(12.5);
    expect(series.get(seriesKey('identity_dlq_depth', { stream: 'outbox' }))).toBe(3);
    expect(series.get(seriesKey('identity_dlq_depth', { stream: 'inbox' }))).toBe(1);
    // A relay that is configured off (no broker): depth is still true, lag is not reported.
    status = { depth: 7, lagSeconds: 900, dlq: 0, enabled: false };
    const off = (await scrape()).series;
    expect(off.get('identity_outbox_relay_enabled')).toBe(0);
    expect(off.get('identity_outbox_depth')).toBe(7);
    expect(off.get('identity_outbox_lag_seconds')).toBeUndefined();
  });

  it('keeps one registry per CA: a second CA in the same process starts from zero', async () => {
    await login('amina', PASSWORD);
    const second = await startTestCa();
    try {
      const response = await second.app.inject({ method: 'GET', url: '/metrics' });
      const series = parseExposition(response.body);
      expect(
        series.get(
          seriesKey('identity_login_attempts_total', { method: 'password', result: 'success' }),
        ) ?? 0,
      ).toBe(0);
      expect(second.ctx.metrics.registry).not.toBe(ca.ctx.metrics.registry);
    } finally {
      await second.close();
    }
  });

  it('answers only the configured bearer token, or not at all on the public port', async () => {
    const app = await buildApp({
      context: ca.ctx,
      metricsEndpoint: { bearerToken: 'scrape-token-0123456789' },
    });
    const hidden = await buildApp({ context: ca.ctx, metricsEndpoint: { expose: false } });
    try {
      const get = (authorization?: string) =>
        app.inject({
          method: 'GET',
          url: '/metrics',
          ...(authorization ? { headers: { authorization } } : {}),
        });
      for (const refused of [undefined, 'Bearer wrong', 'Bearer ', 'scrape-token-0123456789']) {
        const response = await get(refused);
        expect(response.statusCode, String(refused)).toBe(401);
        expect(response.json()).toMatchObject({ code: 'unauthorized' });
        expect(response.headers['www-authenticate']).toBe('Bearer realm="metrics"');
      }
      const allowed = await get('Bearer scrape-token-0123456789');
      expect(allowed.statusCode).toBe(200);
      expect(allowed.body).toContain('identity_http_requests_total');
      expect((await hidden.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    } finally {
      await app.close();
      await hidden.close();
    }
  });
});
