import { base32Decode, totpAt } from '@lantern/shared';
import type { LightMyRequestResponse } from 'fastify';
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
import { verifyAccessToken } from '../src/auth/tokens.js';

let ca: TestCa;
let tenantId: string;
let aminaId: string;
let secret: string;
const PASSWORD = 'correct horse battery';
const HOME = '203.0.113.9'; // Nairobi campus in the tenant's table below
const AWAY = '198.51.100.9'; // London
const ELSEWHERE = '192.0.2.50'; // in no table

const NO_WEIGHTS = {
  new_device: 0,
  unusual_hour: 0,
  recent_failures: 0,
  ip_failures: 0,
  impossible_travel: 0,
};
const LOCATIONS = [
  { cidr: '203.0.113.0/24', name: 'Hillside campus', lat: -1.29, lon: 36.82 },
  { cidr: '198.51.100.0/24', name: 'London office', lat: 51.5, lon: -0.12 },
];

const code = (steps = 0) =>
  totpAt(
    { secret: base32Decode(secret), algorithm: 'SHA1', digits: 6, period: 30 },
    Math.floor(ca.clock.now() / 1000) + steps * 30,
  );

function login(
  username: string,
  extra: Record<string, unknown> = {},
  ip = HOME,
  password = PASSWORD,
): Promise<LightMyRequestResponse> {
  return ca.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    remoteAddress: ip,
    payload: { tenant: tenantId, username, password, ...extra },
  });
}

async function setPolicy(body: Record<string, unknown>): Promise<LightMyRequestResponse> {
  return ca.admin('PUT', `/v1/admin/tenants/${tenantId}/risk-policy`, body);
}

/** Only `rule` counts, with a weight that alone reaches the threshold. */
async function onlyRule(rule: keyof typeof NO_WEIGHTS, extra: Record<string, unknown> = {}) {
  const response = await setPolicy({
    enabled: true,
    threshold: 50,
    weights: { ...NO_WEIGHTS, [rule]: 60 },
    locations: LOCATIONS,
    ...extra,
  });
  expect(response.statusCode).toBe(200);
}

const challenges = () =>
  ca.ctx.store.read({ tenantId, eventType: 'identity.user.mfa_challenge_required' });

async function expectChallenge(
  response: LightMyRequestResponse,
  reasons: string[],
  deviceId?: string,
) {
  expect(response.statusCode, response.body).toBe(401);
  const body = response.json() as {
    code: string;
    methods: string[];
    risk: { level: string; reasons: string[] };
  };
  expect(body.code).toBe('mfa_required');
  expect(body.methods).toEqual(['totp']);
  expect(body.risk).toEqual({ level: 'medium', reasons });
  const last = (await challenges()).at(-1);
  expect(last?.payload).toEqual({
    userId: aminaId,
    reasons,
    riskLevel: 'medium',
    riskScore: 60,
    outcome: 'challenged',
    methods: ['totp'],
    ...(deviceId === undefined ? {} : { deviceId }),
  });
}

async function metric(line: string): Promise<number | undefined> {
  const text = (await ca.app.inject({ method: 'GET', url: '/metrics' })).body;
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

beforeEach(async () => {
  ca = await startTestCa(); // Monday 10:00 UTC
  tenantId = await createTenant(ca, 'Hillside');
  aminaId = await createUser(ca, tenantId, 'amina', PASSWORD, 'learner');
  // A learner: the role's MFA policy asks for no second factor, only the risk rules do.
  const token = (
    (await login('amina')).json() as {
      accessToken: string;
    }
  ).accessToken;
  const auth = { authorization: `Bearer ${token}` };
  const enrolled = await ca.app.inject({
    method: 'POST',
    url: '/v1/mfa/totp/enroll',
    headers: auth,
    payload: {},
  });
  secret = (enrolled.json() as { secret: string }).secret;
  const confirmed = await ca.app.inject({
    method: 'POST',
    url: '/v1/mfa/totp/confirm',
    headers: auth,
    payload: { code: code() },
  });
  expect(confirmed.statusCode).toBe(200);
  ca.clock.advance(30_000);
});
afterEach(async () => ca.close());

describe('adaptive MFA', () => {
  it('is off until the tenant turns it on, and then a score below the threshold asks nothing', async () => {
    expect((await login('amina')).statusCode).toBe(200);
    expect(await metric('identity_risk_score_distribution_count')).toBe(0);

    // Defaults: a sign-in with no device proof is `new_device` (20), below the threshold (50).
    expect((await setPolicy({ enabled: true })).statusCode).toBe(200);
    const response = await login('amina');
    expect(response.statusCode).toBe(200);
    expect(response.json()).not.toHaveProperty('risk');
    expect(await challenges()).toHaveLength(0);
    expect(await metric('identity_risk_score_distribution_count')).toBe(1);
    expect(await metric('identity_risk_score_distribution_bucket{le="10"}')).toBe(0);
    expect(await metric('identity_risk_score_distribution_bucket{le="20"}')).toBe(1);
    expect(await metric('identity_adaptive_mfa_triggered_total{reason="new_device"}')).toBe(0);
  });

  it('new device alone: asks for the TOTP the role would not, a wrong code fails, a good one completes', async () => {
    await onlyRule('new_device');
    const challenged = await login('amina');
    await expectChallenge(challenged, ['new_device']);
    expect(await metric('identity_adaptive_mfa_triggered_total{reason="new_device"}')).toBe(1);
    expect(await metric('identity_adaptive_mfa_triggered_total{reason="unusual_hour"}')).toBe(0);
    expect(await metric('identity_risk_score_distribution_bucket{le="50"}')).toBe(0);
    expect(await metric('identity_risk_score_distribution_bucket{le="60"}')).toBe(1);

    const wrong = await login('amina', { totp: code(5) });
    expect(wrong.statusCode).toBe(401);
    expect((wrong.json() as { code: string }).code).toBe('mfa_failed');

    const good = await login('amina', { totp: code() });
    expect(good.statusCode, good.body).toBe(200);
    const { accessToken } = good.json() as { accessToken: string };
    expect((await verifyAccessToken(ca.ctx, accessToken)).amr).toEqual(['pwd', 'otp']);
    // Only the challenge itself is an event: answering it is the logged_in that follows.
    expect(await challenges()).toHaveLength(1);
  });

  it('new device: a device the user signed in on is known, another one is new', async () => {
    await onlyRule('new_device');
    const onDevice = (device: EnrolledTestDevice, extra: Record<string, unknown> = {}) => {
      const body = JSON.stringify({
        tenant: tenantId,
        username: 'amina',
        password: PASSWORD,
        ...extra,
      });
      return ca.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        remoteAddress: HOME,
        headers: {
          'content-type': 'application/json',
          'lantern-device-proof': device.proof(
            'POST',
            '/v1/auth/login',
            body,
            Math.floor(ca.clock.now() / 1000),
          ),
        },
        payload: body,
      });
    };
    const tablet = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    await expectChallenge(await onDevice(tablet), ['new_device'], tablet.deviceId);
    expect((await onDevice(tablet, { totp: code() })).statusCode).toBe(200);
    ca.clock.advance(30_000);
    expect((await onDevice(tablet)).statusCode).toBe(200);
    const laptop = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    await expectChallenge(await onDevice(laptop), ['new_device'], laptop.deviceId);
  });

  it('unusual hour alone: outside the tenant hours in its time zone, and not inside them', async () => {
    await onlyRule('unusual_hour', {
      activeHours: { from: 7, to: 17, timeZone: 'Africa/Nairobi' }, // UTC+3: 04:00–14:00 UTC
    });
    expect((await login('amina')).statusCode).toBe(200); // 13:00 in Nairobi
    ca.clock.advance(5 * 3_600_000); // 18:00 in Nairobi
    await expectChallenge(await login('amina'), ['unusual_hour']);
  });

  it("unusual hour alone: an hour the user never signs in at, once the user's history is long enough", async () => {
    await onlyRule('unusual_hour');
    for (let day = 0; day < 5; day += 1) {
      expect((await login('amina', { totp: code() })).statusCode).toBe(200);
      ca.clock.advance(86_400_000);
    }
    expect((await login('amina')).statusCode).toBe(200); // 10:00, as every day
    ca.clock.advance(10 * 3_600_000); // 20:00
    await expectChallenge(await login('amina'), ['unusual_hour']);
  });

  it('recent failures alone: wrong passwords before the right one', async () => {
    await onlyRule('recent_failures');
    for (let i = 0; i < 2; i += 1)
      expect((await login('amina', {}, HOME, 'nope')).statusCode).toBe(401);
    expect((await login('amina')).statusCode).toBe(200); // two are fewer than three; resets
    for (let i = 0; i < 3; i += 1)
      expect((await login('amina', {}, HOME, 'nope')).statusCode).toBe(401);
    await expectChallenge(await login('amina'), ['recent_failures']);
  });

  it('an address that just failed for many accounts alone, and not another address', async () => {
    await onlyRule('ip_failures');
    for (const name of ['a', 'b', 'c', 'd']) {
      expect((await login(name, {}, ELSEWHERE, 'guess')).statusCode).toBe(401);
    }
    expect((await login('amina', {}, ELSEWHERE)).statusCode).toBe(200); // four accounts
    expect((await login('e', {}, ELSEWHERE, 'guess')).statusCode).toBe(401);
    await expectChallenge(await login('amina', {}, ELSEWHERE), ['ip_failures']);
    expect((await login('amina', {}, HOME)).statusCode).toBe(200);
    // The window passes: the address is forgotten.
    ca.clock.advance(901_000);
    expect((await login('amina', {}, ELSEWHERE)).statusCode).toBe(200);
  });

  it('an IPv6 sprayer rotating addresses inside its /64, or an IPv4 one seen mapped, is one address', async () => {
    await onlyRule('ip_failures');
    for (const [i, name] of ['a', 'b', 'c', 'd', 'e'].entries()) {
      const ip = `2001:db8:1:2::${i + 1}`;
      expect((await login(name, {}, ip, 'guess')).statusCode).toBe(401);
    }
    await expectChallenge(await login('amina', {}, '2001:db8:1:2:ffff::9'), ['ip_failures']);
    expect((await login('amina', {}, '2001:db8:1:3::1')).statusCode).toBe(200);

    for (const name of ['f', 'g', 'h', 'i']) {
      expect((await login(name, {}, ELSEWHERE, 'guess')).statusCode).toBe(401);
    }
    expect((await login('j', {}, `::ffff:${ELSEWHERE}`, 'guess')).statusCode).toBe(401);
    await expectChallenge(await login('amina', {}, ELSEWHERE), ['ip_failures']);
  });

  it('impossible travel alone: Nairobi then London an hour later, but not after a day', async () => {
    await onlyRule('impossible_travel');
    expect((await login('amina', {}, HOME)).statusCode).toBe(200);
    ca.clock.advance(3_600_000);
    expect((await login('amina', {}, ELSEWHERE)).statusCode).toBe(200); // unlocated: no signal
    // As a dual-stack listener sees an IPv4 client.
    await expectChallenge(await login('amina', {}, `::ffff:${AWAY}`), ['impossible_travel']);
    ca.clock.advance(86_400_000);
    expect((await login('amina', {}, AWAY)).statusCode).toBe(200);
  });

  it('a user with no factor is refused or let through flagged, per the tenant', async () => {
    await createUser(ca, tenantId, 'ben', PASSWORD, 'learner');
    await onlyRule('new_device', { noFactor: 'deny' });
    const denied = await login('ben');
    expect(denied.statusCode).toBe(401);
    expect((denied.json() as { code: string }).code).toBe('risk_denied');
    expect((await challenges()).at(-1)?.payload).toMatchObject({ outcome: 'denied', methods: [] });

    await setPolicy({ noFactor: 'allow' });
    const allowed = await login('ben');
    expect(allowed.statusCode).toBe(200);
    expect(allowed.json()).toMatchObject({
      risk: { score: 60, level: 'medium', reasons: ['new_device'], unverified: true },
    });
    expect((await challenges()).at(-1)?.payload).toMatchObject({ outcome: 'allowed_unverified' });
    expect(await metric('identity_adaptive_mfa_triggered_total{reason="new_device"}')).toBe(2);
  });

  it('the admin API validates the policy and keeps it per tenant', async () => {
    const bad = await setPolicy({
      locations: [{ cidr: '300.1.1.0/24', name: 'x', lat: 0, lon: 0 }],
    });
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as { code: string }).code).toBe('risk_policy_invalid');
    const zone = await setPolicy({ activeHours: { from: 7, to: 17, timeZone: 'Mars/Olympus' } });
    expect((zone.json() as { code: string }).code).toBe('risk_policy_invalid');
    expect((await setPolicy({ threshold: 0 })).statusCode).toBe(400);
    expect((await setPolicy({ threshold: 70, weights: { ip_failures: 90 } })).statusCode).toBe(200);
    const other = await createTenant(ca, 'Riverside');
    const view = (await ca.admin('GET', `/v1/admin/tenants/${tenantId}/risk-policy`)).json() as {
      policy: { threshold: number; weights: Record<string, number>; enabled: boolean };
    };
    expect(view.policy).toMatchObject({ threshold: 70, enabled: false });
    expect(view.policy.weights).toMatchObject({ ip_failures: 90, new_device: 20 });
    const untouched = (await ca.admin('GET', `/v1/admin/tenants/${other}/risk-policy`)).json() as {
      updatedAt: string | null;
    };
    expect(untouched.updatedAt).toBeNull();
    expect(
      await ca.ctx.store.read({ tenantId, eventType: 'identity.tenant.risk_policy_set' }),
    ).toHaveLength(1);
  });
});
