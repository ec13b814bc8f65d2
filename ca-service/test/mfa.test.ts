import {
  SealedBoxError,
  base32Decode,
  createJwtVerifier,
  importJwks,
  openOfflineTotp,
  totpAt,
  totpStep,
} from '@lantern/shared';
import { generateKeyPairSync } from 'node:crypto';
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
import { assertStepUp } from '../src/mfa/totp-enrollment.js';
import type { UserRow } from '../src/users/users.js';

let ca: TestCa;
let tenantId: string;
let teacherId: string;
let learnerId: string;
const PASSWORD = 'correct horse battery';

beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  teacherId = await createUser(ca, tenantId, 'tom', PASSWORD, 'teacher');
  learnerId = await createUser(ca, tenantId, 'amina', PASSWORD, 'learner');
});
afterEach(async () => ca.close());

const nowSeconds = () => Math.floor(ca.clock.now() / 1000);
const params = (secret: string) => ({
  secret: base32Decode(secret),
  algorithm: 'SHA1' as const,
  digits: 6,
  period: 30,
});
/** The code an authenticator app shows now, or `steps` periods away. */
const code = (secret: string, steps = 0) => totpAt(params(secret), nowSeconds() + steps * 30);

function login(
  username: string,
  extra: Record<string, unknown> = {},
): Promise<LightMyRequestResponse> {
  return ca.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: tenantId, username, password: PASSWORD, ...extra },
  });
}

function asUser(
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  token: string | undefined,
  body?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return ca.app.inject({
    method,
    url,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers },
    ...(body === undefined ? {} : { payload: body }),
  });
}

const accessToken = (response: LightMyRequestResponse) =>
  (response.json() as { accessToken: string }).accessToken;

const amrOf = async (token: string) => (await verifyAccessToken(ca.ctx, token)).amr;

/** Signs in (password only, before TOTP), enrols and confirms; returns the base32 secret. */
async function enrollTotp(username: string): Promise<string> {
  const token = accessToken(await login(username));
  const enrolled = await asUser('POST', '/v1/mfa/totp/enroll', token, {});
  expect(enrolled.statusCode).toBe(201);
  const { secret } = enrolled.json() as { secret: string };
  const confirmed = await asUser('POST', '/v1/mfa/totp/confirm', token, { code: code(secret) });
  expect(confirmed.statusCode).toBe(200);
  // The confirmation used this step: move on so the next code is fresh.
  ca.clock.advance(30_000);
  return secret;
}

const userRow = async (userId: string) =>
  (await ca.ctx.store.db.prepare('SELECT * FROM users WHERE user_id = ?').get(userId)) as UserRow;

const events = (eventType: string) => ca.ctx.store.read({ tenantId, eventType });

describe('a lock that lands while the password is checked', () => {
  it('answers like a wrong password, before any second-factor step could tell the guess was right', async () => {
    await enrollTotp('tom');
    const { passwords } = ca.ctx;
    const verify = passwords.verify.bind(passwords);
    passwords.verify = async (password, stored) => {
      passwords.verify = verify;
      const verdict = await verify(password, stored);
      await ca.ctx.store.db
        .prepare('UPDATE users SET locked_until = ? WHERE user_id = ?')
        .run(new Date(ca.clock.now() + 900_000).toISOString(), teacherId);
      return verdict;
    };
    const answer = await login('tom');
    expect(answer.statusCode).toBe(401);
    expect(answer.json()).toMatchObject({ code: 'invalid_credentials' });
  });
});

describe('TOTP enrolment', () => {
  it('hands out the secret once, keeps it sealed, and enrols on the first good code', async () => {
    const token = accessToken(await login('tom'));
    const enrolled = await asUser('POST', '/v1/mfa/totp/enroll', token, {});
    expect(enrolled.statusCode).toBe(201);
    expect(enrolled.headers['cache-control']).toBe('no-store');
    const body = enrolled.json() as {
      otpauthUri: string;
      secret: string;
      algorithm: string;
      digits: number;
      period: number;
      confirmBy: string;
    };
    expect(body).toMatchObject({ algorithm: 'SHA1', digits: 6, period: 30 });
    expect(body.secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(body.otpauthUri);
    expect(uri.protocol).toBe('otpauth:');
    expect(decodeURIComponent(uri.pathname)).toBe('/Lantern:tom@hillside');
    expect(uri.searchParams.get('secret')).toBe(body.secret);
    expect(Date.parse(body.confirmBy)).toBe(ca.clock.now() + 15 * 60_000);
    expect((await asUser('GET', '/v1/mfa', token)).json()).toMatchObject({
      userId: teacherId,
      totp: 'pending',
      policy: { required: ['totp', 'webauthn'] },
    });

    // At rest: sealed, neither the base32 nor the raw bytes anywhere in the row or an event.
    const raw = base32Decode(body.secret);
    const row = (await ca.ctx.store.db
      .prepare('SELECT * FROM totp_credentials WHERE user_id = ?')
      .get(teacherId)) as Record<string, unknown>;
    expect(row['status']).toBe('pending');
    expect(String(row['sealed_secret'])).toMatch(/^lsb1\./);
    const dump = JSON.stringify(row) + JSON.stringify(await ca.ctx.store.read({}));
    for (const form of [
      body.secret,
      raw.toString('hex'),
      raw.toString('base64'),
      raw.toString('base64url'),
    ])
      expect(dump).not.toContain(form);

    const wrong = await asUser('POST', '/v1/mfa/totp/confirm', token, {
      code: code(body.secret, 3),
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ code: 'mfa_failed' });
    expect((await events('identity.user.login_failed')).at(-1)?.payload).toMatchObject({
      userId: teacherId,
      reason: 'mfa_failed',
      method: 'totp',
      failureCount: 1,
    });
    expect(await events('identity.user.mfa_enrolled')).toHaveLength(0);

    const confirmed = await asUser('POST', '/v1/mfa/totp/confirm', token, {
      code: code(body.secret),
    });
    expect(confirmed.statusCode).toBe(200);
    expect(confirmed.json()).toMatchObject({ userId: teacherId, kind: 'totp' });
    expect((await events('identity.user.mfa_enrolled')).map((e) => e.payload)).toEqual([
      { userId: teacherId, kind: 'totp' },
    ]);
    expect((await asUser('GET', '/v1/mfa', token)).json()).toMatchObject({ totp: 'active' });
    // The confirmation's step is used up.
    expect(
      (await asUser('POST', '/v1/mfa/totp/confirm', token, { code: code(body.secret) })).json(),
    ).toMatchObject({ code: 'totp_not_pending' });
  });

  it('refuses to confirm without a pending enrolment or after 15 minutes', async () => {
    const token = accessToken(await login('amina'));
    expect(
      (await asUser('POST', '/v1/mfa/totp/confirm', token, { code: '123456' })).statusCode,
    ).toBe(409);
    const { secret } = (await asUser('POST', '/v1/mfa/totp/enroll', token, {})).json() as {
      secret: string;
    };
    ca.clock.advance(16 * 60_000);
    const fresh = accessToken(await login('amina'));
    const late = await asUser('POST', '/v1/mfa/totp/confirm', fresh, { code: code(secret) });
    expect(late.statusCode).toBe(409);
    expect(late.json()).toMatchObject({ code: 'totp_not_pending' });
  });

  it('needs a valid access token of a live session', async () => {
    expect((await asUser('POST', '/v1/mfa/totp/enroll', undefined, {})).statusCode).toBe(401);
    expect((await asUser('POST', '/v1/mfa/totp/enroll', 'not.a.token', {})).statusCode).toBe(401);
    const signedIn = (await login('amina')).json() as { accessToken: string; refreshToken: string };
    await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      payload: { refreshToken: signedIn.refreshToken },
    });
    const afterLogout = await asUser('POST', '/v1/mfa/totp/enroll', signedIn.accessToken, {});
    expect(afterLogout.statusCode).toBe(401);
    expect(afterLogout.json()).toMatchObject({ code: 'unauthorized' });
    const offlineGrantLike = ca.ctx.tokenKeys.sign(
      { iss: 'http://ca.test', aud: 'lantern', sub: learnerId, exp: nowSeconds() + 60 },
      { typ: 'lantern-offline-grant+jwt' },
    );
    expect((await asUser('GET', '/v1/mfa', offlineGrantLike)).statusCode).toBe(401);
  });

  it('deletes the secret when the user is erased', async () => {
    await enrollTotp('amina');
    expect((await ca.admin('POST', `/v1/admin/users/${learnerId}/erase`, {})).statusCode).toBe(200);
    const rows = (await ca.ctx.store.db
      .prepare('SELECT COUNT(*) AS n FROM totp_credentials WHERE user_id = ?')
      .get(learnerId)) as { n: number };
    expect(rows.n).toBe(0);
  });
});

describe('sign-in with TOTP', () => {
  it('answers mfa_required without a code (no session, no failure counted), then signs in with one', async () => {
    const secret = await enrollTotp('tom');
    const sessionsBefore = (await events('identity.session.created')).length;
    const failuresBefore = (await events('identity.user.login_failed')).length;

    const bare = await login('tom');
    expect(bare.statusCode).toBe(401);
    expect(bare.json()).toEqual({
      code: 'mfa_required',
      message: expect.any(String),
      methods: ['totp'],
      details: { methods: ['totp'] },
    });
    expect(await events('identity.session.created')).toHaveLength(sessionsBefore);
    expect(await events('identity.user.login_failed')).toHaveLength(failuresBefore);
    expect((await userRow(teacherId)).failure_count).toBe(0);

    // A wrong password is still just a wrong password, code or not.
    const wrongPassword = await login('tom', { password: 'not the password', totp: code(secret) });
    expect(wrongPassword.json()).toMatchObject({ code: 'invalid_credentials' });

    const ok = await login('tom', { totp: code(secret) });
    expect(ok.statusCode).toBe(200);
    expect(await amrOf(accessToken(ok))).toEqual(['pwd', 'otp']);
    expect((await events('identity.user.logged_in')).at(-1)?.payload).toMatchObject({
      amr: ['pwd', 'otp'],
    });
  });

  it('never accepts a code twice', async () => {
    const secret = await enrollTotp('tom');
    const once = code(secret);
    expect((await login('tom', { totp: once })).statusCode).toBe(200);
    const replay = await login('tom', { totp: once });
    expect(replay.statusCode).toBe(401);
    expect(replay.json()).toMatchObject({ code: 'mfa_failed' });
    expect((await events('identity.user.login_failed')).at(-1)?.payload).toMatchObject({
      reason: 'mfa_failed',
      method: 'totp',
    });
    ca.clock.advance(30_000);
    expect((await login('tom', { totp: code(secret) })).statusCode).toBe(200);
  });

  it('accepts one step of clock difference either way, not two', async () => {
    const secret = await enrollTotp('tom');
    ca.clock.advance(10 * 60_000);
    expect((await login('tom', { totp: code(secret, -2) })).json()).toMatchObject({
      code: 'mfa_failed',
    });
    expect((await login('tom', { totp: code(secret, 2) })).json()).toMatchObject({
      code: 'mfa_failed',
    });
    expect((await login('tom', { totp: code(secret, -1) })).statusCode).toBe(200);
    expect((await login('tom', { totp: code(secret, 1) })).statusCode).toBe(200);
    // Step +1 is used: the current step, older than it, can no longer be used.
    expect((await login('tom', { totp: code(secret) })).json()).toMatchObject({
      code: 'mfa_failed',
    });
    const row = (await ca.ctx.store.db
      .prepare(
        "SELECT last_used_step FROM totp_credentials WHERE user_id = ? AND status = 'active'",
      )
      .get(teacherId)) as { last_used_step: number };
    expect(row.last_used_step).toBe(totpStep({ period: 30 }, nowSeconds()) + 1);
  });

  it('counts code failures in the same lockout counter as password failures', async () => {
    const secret = await enrollTotp('tom');
    for (let i = 0; i < 3; i++) {
      expect((await login('tom', { password: 'wrong password' })).statusCode).toBe(401);
    }
    for (let i = 0; i < 2; i++) {
      expect((await login('tom', { totp: code(secret, 5) })).json()).toMatchObject({
        code: 'mfa_failed',
      });
    }
    const failures = (await events('identity.user.login_failed')).map((e) => e.payload);
    expect(failures.map((p) => [p['reason'], p['failureCount']])).toEqual([
      ['invalid_credentials', 1],
      ['invalid_credentials', 2],
      ['invalid_credentials', 3],
      ['mfa_failed', 4],
      ['mfa_failed', 5],
    ]);
    expect(await events('identity.user.locked')).toHaveLength(1);
    const locked = await login('tom', { totp: code(secret) });
    expect(locked.statusCode).toBe(401);
    expect(locked.json()).toMatchObject({ code: 'invalid_credentials' });
  });

  it('a good code resets the counter like a good password does', async () => {
    const secret = await enrollTotp('tom');
    await login('tom', { totp: code(secret, 5) });
    expect((await userRow(teacherId)).failure_count).toBe(1);
    expect((await login('tom', { totp: code(secret) })).statusCode).toBe(200);
    expect((await userRow(teacherId)).failure_count).toBe(0);
  });
});

describe('MFA policy per tenant and role', () => {
  it('defaults: teachers need their TOTP once enrolled, learners may send one', async () => {
    expect((await login('tom')).statusCode).toBe(200); // not enrolled yet: password alone
    const learnerSecret = await enrollTotp('amina');
    const bare = await login('amina');
    expect(bare.statusCode).toBe(200);
    expect(await amrOf(accessToken(bare))).toEqual(['pwd']);
    const withCode = await login('amina', { totp: code(learnerSecret) });
    expect(await amrOf(accessToken(withCode))).toEqual(['pwd', 'otp']);
    expect((await login('amina', { totp: code(learnerSecret) })).json()).toMatchObject({
      code: 'mfa_failed',
    });
  });

  it('follows the policy set for the tenant', async () => {
    const learnerSecret = await enrollTotp('amina');
    await enrollTotp('tom');
    const set = await ca.admin('PUT', `/v1/admin/tenants/${tenantId}/mfa-policy`, {
      roles: {
        learner: { required: ['totp'], offline: ['password', 'totp'] },
        teacher: { required: [], offline: ['password'] },
      },
    });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({
      tenantId,
      roles: {
        learner: { required: ['totp'], offline: ['password', 'totp'], stepUp: false },
        teacher: { required: [], offline: ['password'], stepUp: false },
        admin: {
          required: ['totp', 'webauthn'],
          offline: ['password', 'totp', 'webauthn'],
          stepUp: true,
        },
      },
      updatedAt: expect.any(String),
    });
    expect(await events('identity.tenant.mfa_policy_set')).toHaveLength(1);

    expect((await login('amina')).json()).toMatchObject({
      code: 'mfa_required',
      methods: ['totp'],
    });
    expect((await login('amina', { totp: code(learnerSecret) })).statusCode).toBe(200);
    expect((await login('tom')).statusCode).toBe(200);
    expect((await ca.admin('GET', `/v1/admin/tenants/hillside/mfa-policy`)).json()).toMatchObject({
      roles: { teacher: { required: [] } },
    });
  });

  it('refuses a policy with unknown methods or roles', async () => {
    for (const roles of [
      { learner: { required: ['sms'], offline: ['password'] } },
      { learner: { required: [], offline: ['carrier-pigeon'] } },
      { guest: { required: [], offline: ['password'] } },
      {},
    ]) {
      const response = await ca.admin('PUT', `/v1/admin/tenants/${tenantId}/mfa-policy`, { roles });
      expect(response.statusCode).toBe(400);
    }
    expect(await events('identity.tenant.mfa_policy_set')).toHaveLength(0);
  });

  it('is tenant-isolated: another tenant key can neither read nor set it', async () => {
    const otherTenant = await createTenant(ca, 'Riverside');
    const keyFor = async (tenant: string, scopes: string[]) =>
      (
        (await ca.admin('POST', '/v1/admin/api-keys', { tenant, scopes })).json() as {
          apiKey: string;
        }
      ).apiKey;
    const otherKey = await keyFor(otherTenant, ['tenants:write', 'users:read', 'users:write']);
    const ownKey = await keyFor(tenantId, ['tenants:write', 'users:read']);
    const readOnlyKey = await keyFor(tenantId, ['users:read']);
    const body = { roles: { learner: { required: ['totp'], offline: ['password'] } } };
    const url = `/v1/admin/tenants/${tenantId}/mfa-policy`;

    expect((await ca.admin('PUT', url, body, otherKey)).statusCode).toBe(403);
    expect((await ca.admin('GET', url, undefined, otherKey)).statusCode).toBe(403);
    expect((await ca.admin('PUT', url, body, readOnlyKey)).statusCode).toBe(403);
    expect((await ca.admin('PUT', url, body, 'lk_nope')).statusCode).toBe(401);
    expect((await ca.admin('PUT', '/v1/admin/tenants/nowhere/mfa-policy', body)).statusCode).toBe(
      404,
    );
    expect(await events('identity.tenant.mfa_policy_set')).toHaveLength(0);
    expect((await ca.admin('PUT', url, body, ownKey)).statusCode).toBe(200);
    expect((await ca.admin('GET', url, undefined, readOnlyKey)).json()).toMatchObject({
      roles: { learner: { required: ['totp'], offline: ['password'] } },
    });
    // The other tenant still runs on the defaults.
    expect(
      (
        await ca.admin('GET', `/v1/admin/tenants/${otherTenant}/mfa-policy`, undefined, otherKey)
      ).json(),
    ).toMatchObject({ updatedAt: null, roles: { learner: { required: [] } } });

    // Admin reset of a user's TOTP is tenant-isolated too.
    await enrollTotp('amina');
    const reset = `/v1/admin/users/${learnerId}/mfa/reset`;
    expect((await ca.admin('POST', reset, {}, otherKey)).json()).toMatchObject({
      code: 'user_not_found',
    });
    expect((await ca.admin('POST', reset, {})).statusCode).toBe(200);
    expect((await events('identity.user.mfa_removed')).map((e) => e.payload)).toEqual([
      { userId: learnerId, kind: 'totp', reason: 'admin_reset' },
    ]);
    expect((await ca.admin('POST', reset, {})).json()).toMatchObject({ code: 'totp_not_enrolled' });
  });
});

describe('step-up', () => {
  it('replacing or removing an active TOTP needs a token with otp in amr', async () => {
    const secret = await enrollTotp('amina');
    const pwdOnly = accessToken(await login('amina'));
    const withOtp = accessToken(await login('amina', { totp: code(secret) }));
    expect(await amrOf(pwdOnly)).toEqual(['pwd']);

    const replace = await asUser('POST', '/v1/mfa/totp/enroll', pwdOnly, {});
    expect(replace.statusCode).toBe(403);
    expect(replace.json()).toMatchObject({ code: 'step_up_required' });
    expect((await asUser('DELETE', '/v1/mfa/totp', pwdOnly)).statusCode).toBe(403);

    // Re-enrolment with a step-up: the old secret stays in force until the new one is confirmed.
    const next = (await asUser('POST', '/v1/mfa/totp/enroll', withOtp, {})).json() as {
      secret: string;
    };
    ca.clock.advance(30_000);
    expect((await login('amina', { totp: code(secret) })).statusCode).toBe(200);
    expect(
      (await asUser('POST', '/v1/mfa/totp/confirm', withOtp, { code: code(next.secret) }))
        .statusCode,
    ).toBe(200);
    ca.clock.advance(30_000);
    expect((await login('amina', { totp: code(secret) })).json()).toMatchObject({
      code: 'mfa_failed',
    });
    const fresh = accessToken(await login('amina', { totp: code(next.secret) }));

    const removed = await asUser('DELETE', '/v1/mfa/totp', fresh);
    expect(removed.statusCode).toBe(200);
    expect((await events('identity.user.mfa_removed')).at(-1)?.payload).toEqual({
      userId: learnerId,
      kind: 'totp',
      reason: 'user',
    });
    expect((await asUser('GET', '/v1/mfa', fresh)).json()).toMatchObject({ totp: 'none' });
  });

  it('admin actions of a role with stepUp need otp in amr', async () => {
    const adminId = await createUser(ca, tenantId, 'ada', PASSWORD, 'admin');
    const token = accessToken(await login('ada'));
    const caller = await verifyAccessToken(ca.ctx, token);
    await expect(
      (async () => assertStepUp(ca.ctx, caller, await userRow(adminId), 'admin_action'))(),
    ).rejects.toThrow(expect.objectContaining({ code: 'step_up_required' }));
    const secret = await enrollTotp('ada');
    const stepped = await verifyAccessToken(
      ca.ctx,
      accessToken(await login('ada', { totp: code(secret) })),
    );
    await (async () => assertStepUp(ca.ctx, stepped, await userRow(adminId), 'admin_action'))();
    // A teacher (stepUp false by default) is not asked.
    const teacher = await verifyAccessToken(ca.ctx, accessToken(await login('tom')));
    await (async () => assertStepUp(ca.ctx, teacher, await userRow(teacherId), 'admin_action'))();
  });
});

describe('offline grant with TOTP', () => {
  let device: EnrolledTestDevice;
  beforeEach(async () => {
    device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
  });

  function deviceLogin(username: string, extra: Record<string, unknown> = {}) {
    const body = JSON.stringify({ tenant: tenantId, username, password: PASSWORD, ...extra });
    return ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: {
        'content-type': 'application/json',
        'lantern-device-proof': device.proof('POST', '/v1/auth/login', body, nowSeconds()),
      },
      payload: body,
    });
  }

  const grantClaims = (token: string) => {
    const verdict = createJwtVerifier({
      keys: importJwks(ca.ctx.tokenKeys.jwks()),
      issuer: 'http://ca.test',
      audience: device.deviceId,
      typ: 'lantern-offline-grant+jwt',
    }).verify(token, nowSeconds());
    if (!verdict.ok) throw new Error(verdict.reason);
    return verdict.claims;
  };

  interface GrantView {
    grantId: string;
    methods: string[];
    token: string;
    totp?: unknown;
  }

  it('carries the TOTP secret sealed to the device key; it opens with that key only', async () => {
    const secret = await enrollTotp('tom');
    const used = code(secret);
    const response = await deviceLogin('tom', { totp: used });
    expect(response.statusCode).toBe(200);
    const grant = (response.json() as { offlineGrant: GrantView }).offlineGrant;
    expect(grant.methods).toEqual(['password', 'totp', 'webauthn']);
    expect(grantClaims(grant.token)).toMatchObject({
      methods: ['password', 'totp', 'webauthn'],
      mfa: ['totp'],
    });
    expect((await events('identity.grant.issued')).at(-1)?.payload).toMatchObject({
      methods: ['password', 'totp', 'webauthn'],
    });
    expect(grant.totp).toMatchObject({ alg: 'ECDH-ES+A256GCM', epk: { kty: 'EC', crv: 'P-256' } });
    expect(JSON.stringify(grant.totp)).not.toContain(secret);

    const opened = openOfflineTotp(device.key.privateKey, grant.totp, grant.grantId);
    expect(opened).toEqual({
      secret,
      algorithm: 'SHA1',
      digits: 6,
      period: 30,
      notBeforeStep: totpStep({ period: 30 }, nowSeconds()) + 1,
    });
    // The agent can check codes with it offline.
    expect(totpAt({ ...params(opened.secret) }, nowSeconds() + 30)).toBe(code(secret, 1));

    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(() => openOfflineTotp(stranger, grant.totp, grant.grantId)).toThrow(SealedBoxError);
    expect(() => openOfflineTotp(device.key.privateKey, grant.totp, 'grt_other')).toThrow(
      SealedBoxError,
    );
  });

  it('leaves TOTP out when the user has none or the policy does not allow it offline', async () => {
    const plain = (await deviceLogin('tom')).json() as { offlineGrant: GrantView };
    expect(plain.offlineGrant.methods).toEqual(['password', 'webauthn']);
    expect(plain.offlineGrant.totp).toBeUndefined();
    expect(grantClaims(plain.offlineGrant.token)['mfa']).toBeUndefined();

    const secret = await enrollTotp('tom');
    await ca.admin('PUT', `/v1/admin/tenants/${tenantId}/mfa-policy`, {
      roles: { teacher: { required: ['totp'], offline: ['password'] } },
    });
    const noTotp = (await deviceLogin('tom', { totp: code(secret) })).json() as {
      offlineGrant: GrantView;
    };
    expect(noTotp.offlineGrant.methods).toEqual(['password']);
    expect(noTotp.offlineGrant.totp).toBeUndefined();

    // An optional second factor goes offline too, but the grant does not demand it.
    await enrollTotp('amina');
    const learner = (await deviceLogin('amina')).json() as { offlineGrant: GrantView };
    expect(learner.offlineGrant.methods).toEqual(['password', 'totp', 'webauthn']);
    expect(grantClaims(learner.offlineGrant.token)['mfa']).toBeUndefined();
  });

  it('issues no offline grant to a role whose policy allows no offline method', async () => {
    await ca.admin('PUT', `/v1/admin/tenants/${tenantId}/mfa-policy`, {
      roles: { learner: { required: [], offline: [] } },
    });
    const response = await deviceLogin('amina');
    expect(response.statusCode).toBe(200);
    expect((response.json() as { offlineGrant?: unknown }).offlineGrant).toBeUndefined();
    expect(await events('identity.grant.issued')).toHaveLength(0);
  });

  it('a device-bound access token works on the MFA routes only with a proof from its device', async () => {
    const token = accessToken(await deviceLogin('amina'));
    const bare = await asUser('GET', '/v1/mfa', token);
    expect(bare.statusCode).toBe(401);
    const proven = await asUser('GET', '/v1/mfa', token, undefined, {
      'lantern-device-proof': device.proof('GET', '/v1/mfa', '', nowSeconds()),
    });
    expect(proven.statusCode).toBe(200);
  });
});
