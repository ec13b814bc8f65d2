import { parseCertificate } from '@lantern/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { shredDeviceKeys } from '../src/enforcement/shred-device-keys.js';
import { enforceRevocations } from '../src/enforcement/enforce-revocations.js';
import { signInOffline, signInOfflineWith } from '../src/signin/offline-signin.js';
import { passwordCredential } from '../src/signin/password-credential.js';
import { openSigninAgent } from '../src/signin/open-signin-agent.js';
import { signInOnline } from '../src/signin/online-signin.js';
import type { SigninOptions, SigninVerdict } from '../src/signin/signin-agent.js';
import { OFFLINE_CHECK_ORDER } from '../src/signin/signin-refusals.js';
import { createLocalVerifier } from '../src/verify/local-verifier.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { DAY, HOUR, PASSWORD, T0, TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
let world: SigninWorld;
beforeEach(async () => {
  world = await startSigninWorld(tempDir);
});
afterEach(async () => {
  await world.close();
});

const offline = (
  device: TestDevice,
  password = PASSWORD,
  username = 'amina',
  options: SigninOptions = TEST_OPTIONS,
): Promise<SigninVerdict> => signInOffline(device.agent, { username, password }, options);

/** Offline sign-in of amina whose KDF runs while the wall clock is set back two days. */
function signInSettingClockBackDuringKdf(
  device: TestDevice,
  password: string,
): Promise<SigninVerdict> {
  const credential = passwordCredential(password);
  return signInOfflineWith(
    device.agent,
    { username: 'amina' },
    {
      ...credential,
      check: async (...args) => {
        const matched = await credential.check(...args);
        world.agentClock.advance(-2 * DAY);
        return matched;
      },
    },
    TEST_OPTIONS,
  );
}

/** A device that has seen one online sign-in of amina: it holds her grant and verifier. */
async function deviceWithGrant(): Promise<{ device: TestDevice; userId: string }> {
  const userId = await world.user('amina');
  const device = await world.device();
  const online = await signInOnline(
    device.agent,
    { username: 'amina', password: PASSWORD },
    TEST_OPTIONS,
  );
  expect(online).toMatchObject({ kind: 'answered', verdict: { ok: true, mode: 'online' } });
  return { device, userId };
}

function revoke(device: TestDevice, kind: string, subjectId: string, revokedAt: number): void {
  device.opened.store.db
    .prepare(
      `INSERT INTO revocations (kind, subject_id, revoked_at, reason, feed_seq, received_at)
       VALUES (?, ?, ?, 'admin', 1, ?)`,
    )
    .run(kind, subjectId, revokedAt, revokedAt);
}

/** Replaces the stored grant with one the CA signs with other claims (as a CA would issue it). */
function resign(device: TestDevice, changes: Record<string, unknown>): void {
  const { jws } = grantRow(device);
  const claims = JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString()) as Record<
    string,
    unknown
  >;
  const token = world.ca.ctx.tokenKeys.sign(
    { ...claims, ...changes },
    { typ: 'lantern-offline-grant+jwt' },
  );
  device.opened.store.db.prepare('UPDATE grants SET grant_jws = ?').run(token);
}

function grantRow(device: TestDevice): { grantId: string; jws: string } {
  return device.opened.store.db
    .prepare('SELECT grant_id AS grantId, grant_jws AS jws FROM grants')
    .get() as { grantId: string; jws: string };
}

describe('a grant verified at an earlier sign-in (kept verified in memory) is checked again', () => {
  const signedInOnce = async () => {
    const found = await deviceWithGrant();
    expect(await offline(found.device)).toMatchObject({ ok: true });
    return found;
  };

  it('refuses it once past its exp', async () => {
    const { device } = await signedInOnce();
    world.advance(14 * DAY + 1000);
    expect(await offline(device)).toMatchObject({ code: 'grant_expired' });
  });

  it('refuses it when revoked since', async () => {
    const { device } = await signedInOnce();
    revoke(device, 'grant', grantRow(device).grantId, T0);
    expect(await offline(device)).toMatchObject({ code: 'grant_revoked' });
  });

  it('refuses an edited JWS in its row', async () => {
    const { device } = await signedInOnce();
    const [header, payload, signature] = grantRow(device).jws.split('.') as [
      string,
      string,
      string,
    ];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { exp: number };
    const edited = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 365 * 86_400 }));
    device.opened.store.db
      .prepare('UPDATE grants SET grant_jws = ?')
      .run(`${header}.${edited.toString('base64url')}.${signature}`);
    expect(await offline(device)).toMatchObject({ code: 'no_grant' });
  });

  it('refuses it once the stored JWKS no longer holds its key', async () => {
    const { device } = await signedInOnce();
    const { db } = device.opened.store;
    const { json } = db.prepare('SELECT keys_json AS json FROM jwks').get() as { json: string };
    const jwks = JSON.parse(json) as { keys: { kid: string }[] };
    db.prepare('UPDATE jwks SET keys_json = ?').run(
      JSON.stringify({ keys: jwks.keys.map((key) => ({ ...key, kid: `${key.kid}-other` })) }),
    );
    expect(await offline(device)).toMatchObject({ code: 'no_grant' });
  });

  it('accepts it again without a fresh signature check while nothing changed', async () => {
    const { device } = await signedInOnce();
    world.advance(HOUR);
    expect(await offline(device)).toMatchObject({ ok: true });
  });
});

describe('offline sign-in refusals, each with its reason code and outbox event', () => {
  it('not_enrolled: no binding, nothing recorded (there is no device to record it for)', async () => {
    const { device } = await deviceWithGrant();
    device.opened.store.db.exec('DELETE FROM binding');
    expect(await offline(device)).toEqual({ ok: false, mode: 'offline', code: 'not_enrolled' });
    expect(device.count('outbox')).toBe(0);
  });

  it('binding_not_yet_valid: trusted time before the certificate path starts', async () => {
    const device = await world.device();
    world.agentClock.set(T0 - DAY);
    expect(await offline(device)).toMatchObject({ ok: false, code: 'binding_not_yet_valid' });
    expect(device.events('identity.user.login_failed')).toEqual([
      {
        reason: 'binding_not_yet_valid',
        offline: true,
        deviceId: device.opened.binding.deviceId,
        method: 'password',
        failureCount: 0,
      },
    ]);
  });

  it('binding_expired: the binding certificate is past notAfter at trusted time', async () => {
    const { device, userId } = await deviceWithGrant();
    world.advance(31 * DAY);
    expect(await offline(device)).toMatchObject({ ok: false, code: 'binding_expired', userId });
    expect(device.events('identity.user.login_failed')).toEqual([
      expect.objectContaining({ userId, reason: 'binding_expired', offline: true }),
    ]);
  });

  it('device_revoked: the cached feed revoked the device or its certificate', async () => {
    const { device } = await deviceWithGrant();
    const serial = parseCertificate(device.opened.binding.certificatePem).serialNumber;
    revoke(device, 'certificate', serial, T0);
    expect(await offline(device)).toMatchObject({ code: 'device_revoked' });
    device.opened.store.db.exec('DELETE FROM revocations');
    revoke(device, 'device', device.opened.binding.deviceId, T0);
    expect(await offline(device)).toMatchObject({ code: 'device_revoked' });
    expect(device.events('identity.user.login_failed').map((event) => event['reason'])).toEqual([
      'device_revoked',
      'device_revoked',
    ]);
  });

  it('device_revoked: also when a sync revokes it while the password is being checked', async () => {
    const { device } = await deviceWithGrant();
    const pending = offline(device);
    revoke(device, 'device', device.opened.binding.deviceId, T0);
    expect(await pending).toMatchObject({ ok: false, code: 'device_revoked' });
    expect(device.count('sessions')).toBe(1);
  });

  it('device_revoked: once sync enforced it, and after the keys were shredded', async () => {
    const { device } = await deviceWithGrant();
    const session = await offline(device);
    const { deviceId } = device.opened.binding;
    const { store, paths, dataKey, deviceKey } = device.opened;
    enforceRevocations(
      store,
      [{ seq: 1, kind: 'device', id: deviceId, revokedAt: T0, reason: 'lost' }],
      { deviceId, now: T0 },
    );
    store.db.exec('DELETE FROM revocations');
    expect(await offline(device)).toMatchObject({ code: 'device_revoked' });
    expect(
      await signInOnline(device.agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS),
    ).toEqual({
      kind: 'answered',
      verdict: { ok: false, mode: 'online', code: 'device_revoked' },
    });
    if (session.ok) {
      expect(device.verifier.verify(session.token)).toMatchObject({ reason: 'device_revoked' });
    }
    await shredDeviceKeys({ store, paths, dataKey, deviceKey, now: T0 });
    await expect(
      openSigninAgent({ dataDir: device.dataDir, clock: world.agentClock }),
    ).rejects.toMatchObject({ code: 'device_revoked', status: 403 });
  });

  it('clock_rollback: the wall clock went back two days; recorded, and it stays refused', async () => {
    const { device, userId } = await deviceWithGrant();
    world.advance(HOUR);
    expect(await offline(device)).toMatchObject({ ok: true });
    world.agentClock.advance(-2 * DAY);
    expect(await offline(device)).toMatchObject({ ok: false, code: 'clock_rollback', userId });
    expect(await offline(device)).toMatchObject({ ok: false, code: 'clock_rollback' });
    const [rollback] = device.events('identity.device.clock_rollback_detected');
    expect(rollback).toEqual({
      deviceId: device.opened.binding.deviceId,
      wallClock: new Date(T0 + HOUR - 2 * DAY).toISOString(),
      trustedTime: new Date(T0 + HOUR).toISOString(),
      skewSeconds: -2 * 86_400,
    });
    expect(device.events('identity.user.login_failed')).toHaveLength(2);
  });

  it('clock_rollback: a clock set back while the KDF ran is caught when the attempt is recorded', async () => {
    const { device, userId } = await deviceWithGrant();
    world.advance(HOUR);
    expect(await signInSettingClockBackDuringKdf(device, PASSWORD)).toMatchObject({
      ok: false,
      code: 'clock_rollback',
      userId,
    });
    expect(device.events('identity.device.clock_rollback_detected')).toHaveLength(1);
    expect(device.events('identity.user.logged_in')).toEqual([]);
    expect(await offline(device)).toMatchObject({ ok: false, code: 'clock_rollback' });
  });

  it('clock_rollback during the KDF: a wrong password is still counted towards the lock', async () => {
    const { device, userId } = await deviceWithGrant();
    world.advance(HOUR);
    expect(await signInSettingClockBackDuringKdf(device, 'not-her-password')).toMatchObject({
      ok: false,
      code: 'clock_rollback',
      userId,
    });
    expect(
      device.opened.store.db
        .prepare('SELECT failure_count AS n FROM lockout WHERE user_id = ?')
        .get(userId),
    ).toEqual({ n: 1 });
  });

  it('the trusted-time mark is raised by the attempt itself, not before its KDF', async () => {
    const { device } = await deviceWithGrant();
    world.advance(HOUR);
    const markMs = () => device.agent.trustedTime.state().markMs;
    const before = markMs();
    const password = passwordCredential(PASSWORD);
    let markDuringKdf: number | undefined;
    const watched = {
      ...password,
      check: async (...args: Parameters<typeof password.check>) => {
        markDuringKdf = markMs();
        return password.check(...args);
      },
    };
    expect(
      await signInOfflineWith(device.agent, { username: 'amina' }, watched, TEST_OPTIONS),
    ).toMatchObject({ ok: true });
    expect(markDuringKdf).toBe(before);
    expect(markMs()).toBe(world.agentClock.now());
    expect(markMs()).toBeGreaterThan(before);
  });

  it('no_grant: nobody of that name ever signed in online here', async () => {
    const { device } = await deviceWithGrant();
    expect(await offline(device, PASSWORD, 'bilal')).toEqual({
      ok: false,
      mode: 'offline',
      code: 'no_grant',
    });
    expect(device.events('identity.user.login_failed')).toEqual([
      expect.not.objectContaining({ userId: expect.anything() }),
    ]);
  });

  it('grant_expired: past the signed offlineUntil (14 days), with the binding still valid', async () => {
    const { device } = await deviceWithGrant();
    world.advance(14 * DAY + 1000);
    expect(await offline(device)).toMatchObject({ code: 'grant_expired' });
  });

  it('grant_revoked: by the grant, the token key, the row flag, or the user after issuance', async () => {
    const { device, userId } = await deviceWithGrant();
    const { grantId } = grantRow(device);
    const { db } = device.opened.store;
    revoke(device, 'grant', grantId, T0);
    expect(await offline(device)).toMatchObject({ code: 'grant_revoked', userId });
    db.exec('DELETE FROM revocations');
    revoke(device, 'key', world.ca.ctx.tokenKeys.activeKid, T0);
    expect(await offline(device)).toMatchObject({ code: 'grant_revoked' });
    db.exec('DELETE FROM revocations');
    db.prepare('UPDATE grants SET revoked = 1, revoked_at = ?').run(T0);
    expect(await offline(device)).toMatchObject({ code: 'grant_revoked' });
    db.exec('UPDATE grants SET revoked = 0, revoked_at = NULL');
    revoke(device, 'user', userId, T0 + 1000);
    expect(await offline(device)).toMatchObject({ code: 'grant_revoked' });
    expect(device.events('identity.user.login_failed').map((event) => event['reason'])).toEqual([
      'grant_revoked',
      'grant_revoked',
      'grant_revoked',
      'user_revoked',
    ]);
    // Revoked before this grant was issued: the user was reinstated and signed in again since.
    db.exec('DELETE FROM revocations');
    revoke(device, 'user', userId, T0 - DAY);
    expect(await offline(device)).toMatchObject({ ok: true });
  });

  it('offline_window_exceeded: longer than maxOfflineSeconds since the last sync', async () => {
    const device = await world.device();
    await world.user('amina');
    world.advance(5 * DAY);
    await signInOnline(device.agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS);
    world.advance(9 * DAY - HOUR);
    expect(await offline(device)).toMatchObject({ ok: true });
    world.advance(HOUR);
    expect(await offline(device)).toMatchObject({ code: 'offline_window_exceeded' });
    // A sync restarts the window; an online sign-in alone does not (it brings no feed).
    await signInOnline(device.agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS);
    expect(await offline(device)).toMatchObject({ code: 'offline_window_exceeded' });
    // Only the CA's signed time restarts it: a trusted time ahead of the CA's does not.
    device.opened.store.db.prepare('UPDATE sync_state SET last_sync_at = ?').run(T0 + 14 * DAY);
    expect(await offline(device)).toMatchObject({ code: 'offline_window_exceeded' });
    device.opened.store.db.prepare('UPDATE sync_state SET last_server_time = ?').run(T0 + 14 * DAY);
    expect(await offline(device)).toMatchObject({ ok: true });
  });

  it('locked: N failures in the window lock the user locally, right password or not', async () => {
    const { device, userId } = await deviceWithGrant();
    const lockout = { maxFailures: 3, windowMs: 10 * 60_000, lockMs: 30 * 60_000 };
    const options = { ...TEST_OPTIONS, lockout };
    const wrong = () => offline(device, 'wrong password', 'amina', options);
    expect(await wrong()).toMatchObject({ code: 'bad_credentials' });
    expect(await wrong()).toMatchObject({ code: 'bad_credentials' });
    expect(await wrong()).toMatchObject({ code: 'locked', lockedUntil: T0 + 30 * 60_000 });
    expect(await offline(device, PASSWORD, 'amina', options)).toMatchObject({
      code: 'locked',
      lockedUntil: T0 + 30 * 60_000,
    });
    expect(device.events('identity.user.login_failed')).toEqual([
      expect.objectContaining({ reason: 'invalid_credentials', failureCount: 1 }),
      expect.objectContaining({ reason: 'invalid_credentials', failureCount: 2 }),
      expect.objectContaining({ reason: 'invalid_credentials', failureCount: 3 }),
      expect.objectContaining({ reason: 'locked', failureCount: 3 }),
    ]);
    expect(device.events('identity.user.locked')).toEqual([
      {
        userId,
        reason: 'too_many_failures',
        lockedUntil: new Date(T0 + 30 * 60_000).toISOString(),
        offline: true,
        deviceId: device.opened.binding.deviceId,
      },
    ]);
    // Setting the clock back does not shorten the lock (and is a rollback besides).
    world.agentClock.advance(-DAY);
    expect(await offline(device, PASSWORD, 'amina', options)).toMatchObject({
      code: 'clock_rollback',
    });
    world.agentClock.advance(DAY + 30 * 60_000);
    expect(await offline(device, PASSWORD, 'amina', options)).toMatchObject({ ok: true });
    expect(device.count('lockout')).toBe(0);
  });

  it('failures outside the window do not add up; the default policy is 5 in 15 minutes', async () => {
    const { device } = await deviceWithGrant();
    for (let i = 0; i < 4; i += 1) {
      expect(await offline(device, 'nope')).toMatchObject({ code: 'bad_credentials' });
    }
    world.advance(15 * 60_000);
    expect(await offline(device, 'nope')).toMatchObject({ code: 'bad_credentials' });
    for (let i = 0; i < 3; i += 1) await offline(device, 'nope');
    expect(await offline(device, 'nope')).toMatchObject({ code: 'locked' });
  });

  it('method_not_allowed: the grant does not allow passwords offline', async () => {
    const { device, userId } = await deviceWithGrant();
    resign(device, { methods: ['passkey'] });
    expect(await offline(device)).toMatchObject({ code: 'method_not_allowed', userId });
  });

  it('bad_credentials: wrong password, counted, the verifier compared in constant time', async () => {
    const { device, userId } = await deviceWithGrant();
    expect(await offline(device, PASSWORD.toUpperCase())).toEqual({
      ok: false,
      mode: 'offline',
      code: 'bad_credentials',
      userId,
    });
    expect(device.events('identity.user.login_failed')).toEqual([
      {
        userId,
        reason: 'invalid_credentials',
        offline: true,
        deviceId: device.opened.binding.deviceId,
        method: 'password',
        failureCount: 1,
      },
    ]);
  });

  it('mfa_required: the grant asks for a second factor, or the MFA hook does', async () => {
    const { device } = await deviceWithGrant();
    const mfaPolicy = { requiresSecondFactor: () => true };
    expect(await offline(device, PASSWORD, 'amina', { ...TEST_OPTIONS, mfaPolicy })).toMatchObject({
      code: 'mfa_required',
    });
    resign(device, { methods: ['password', 'totp'], mfa: ['totp'] });
    expect(await offline(device)).toMatchObject({ code: 'mfa_required' });
    expect(device.count('sessions')).toBe(1);
    expect(device.events('identity.user.login_failed').map((event) => event['reason'])).toEqual([
      'mfa_required',
      'mfa_required',
    ]);
  });

  it('reports the first failing check of the order in docs/architecture.md §4 when several fail', async () => {
    expect(OFFLINE_CHECK_ORDER.indexOf('device_revoked')).toBeLessThan(
      OFFLINE_CHECK_ORDER.indexOf('clock_rollback'),
    );
    const { device } = await deviceWithGrant();
    world.agentClock.advance(-2 * DAY);
    revoke(device, 'device', device.opened.binding.deviceId, T0);
    expect(await offline(device, 'wrong', 'nobody')).toMatchObject({ code: 'device_revoked' });
    device.opened.store.db.exec('DELETE FROM revocations');
    expect(await offline(device, 'wrong', 'nobody')).toMatchObject({ code: 'clock_rollback' });
  });
});

describe('offline sign-in success', () => {
  it('creates a session, records logged_in and session.created, and mints a token', async () => {
    const { device, userId } = await deviceWithGrant();
    world.advance(HOUR);
    const verdict = await offline(device);
    if (!verdict.ok) throw new Error(`refused: ${verdict.code}`);
    expect(verdict).toMatchObject({ mode: 'offline', userId, username: 'amina' });
    expect(verdict.expiresAt).toBe(T0 + 9 * HOUR);
    const { grantId } = grantRow(device);
    const deviceId = device.opened.binding.deviceId;
    expect(device.events()).toEqual([
      {
        type: 'identity.user.logged_in',
        userId,
        sessionId: verdict.sessionId,
        tenantId: world.tenantId,
        offline: true,
        deviceId,
        grantId,
        amr: ['pwd'],
        at: new Date(T0 + HOUR).toISOString(),
      },
      {
        type: 'identity.session.created',
        sessionId: verdict.sessionId,
        userId,
        offline: true,
        deviceId,
        expiresAt: new Date(T0 + 9 * HOUR).toISOString(),
      },
    ]);
    const session = device.opened.store.db
      .prepare('SELECT * FROM sessions WHERE session_id = ?')
      .get(verdict.sessionId);
    expect(session).toMatchObject({ user_id: userId, grant_id: grantId, offline: 1 });
    const checked = device.verifier.verifySessionToken(verdict.token);
    expect(checked).toMatchObject({
      ok: true,
      kind: 'session',
      claims: {
        iss: `urn:lantern:device:${world.tenantId}:${deviceId}`,
        sub: userId,
        aud: 'lantern-local',
        sid: verdict.sessionId,
        grt: grantId,
        tenant: world.tenantId,
        amr: ['pwd'],
        iat: (T0 + HOUR) / 1000,
        exp: (T0 + 9 * HOUR) / 1000,
      },
    });
    const header = JSON.parse(
      Buffer.from(verdict.token.split('.')[0] ?? '', 'base64url').toString(),
    );
    expect(header).toEqual({
      alg: 'ES256',
      typ: 'lantern-session+jwt',
      x5c: [expect.any(String), expect.any(String)],
    });
  });

  it('resets the lockout counter on success', async () => {
    const { device } = await deviceWithGrant();
    await offline(device, 'nope');
    expect(device.count('lockout')).toBe(1);
    expect(await offline(device)).toMatchObject({ ok: true });
    expect(device.count('lockout')).toBe(0);
  });
});

describe('the grant is believed from its signature only', () => {
  it('refuses a grant JWS edited after signing (a later exp)', async () => {
    const { device } = await deviceWithGrant();
    const { jws } = grantRow(device);
    const [header, payload, signature] = jws.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { exp: number };
    const edited = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 365 * 86_400 }));
    device.opened.store.db
      .prepare('UPDATE grants SET grant_jws = ?')
      .run(`${header}.${edited.toString('base64url')}.${signature}`);
    expect(await offline(device)).toMatchObject({ code: 'no_grant' });
  });

  it('ignores an offline_until edited in SQLite: it still ends at the signed exp', async () => {
    const { device } = await deviceWithGrant();
    device.opened.store.db.prepare('UPDATE grants SET offline_until = ?').run(T0 + 365 * DAY);
    world.advance(14 * DAY - HOUR);
    const last = await offline(device);
    expect(last).toMatchObject({ ok: true, expiresAt: T0 + 14 * DAY });
    world.advance(HOUR);
    expect(await offline(device)).toMatchObject({ code: 'grant_expired' });
    if (last.ok) expect(device.verifier.verify(last.token)).toMatchObject({ reason: 'expired' });
  });

  it('refuses a grant issued for another device, copied into this store', async () => {
    await world.user('amina');
    const mine = await world.device();
    const theirs = await world.device();
    await signInOnline(theirs.agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS);
    const row = theirs.opened.store.db.prepare('SELECT * FROM grants').get() as Record<
      string,
      unknown
    >;
    mine.opened.store.db
      .prepare(
        `INSERT INTO grants (grant_id, user_id, username, grant_jws, offline_until, methods_json,
           received_at) VALUES (@grant_id, @user_id, @username, @grant_jws, @offline_until,
           @methods_json, @received_at)`,
      )
      .run(row);
    expect(await offline(mine)).toMatchObject({ code: 'no_grant' });
  });

  it('refuses a username column pointed at another user: the signed username counts', async () => {
    const { device } = await deviceWithGrant();
    await world.user('bilal', 'another password');
    device.opened.store.db.exec("UPDATE grants SET username = 'bilal'");
    expect(await offline(device, PASSWORD, 'bilal')).toMatchObject({ code: 'no_grant' });
  });

  it('refuses when the verifier row was moved to another user (sealed with its AAD)', async () => {
    const { device, userId } = await deviceWithGrant();
    const { db } = device.opened.store;
    const sealed = (db.prepare('SELECT sealed FROM verifiers').get() as { sealed: Buffer }).sealed;
    expect(device.agent.dataKey.open(sealed, `verifiers/${userId}/password//sealed`)).toHaveLength(
      32,
    );
    expect(() => device.agent.dataKey.open(sealed, 'verifiers/usr_other/password//sealed')).toThrow(
      /authentication/,
    );
  });
});

describe('invariant 2: no session outlives its grant, binding or offline window', () => {
  it('caps exp at the grant, and a clock set back never revives the token', async () => {
    const { device } = await deviceWithGrant();
    world.advance(14 * DAY - HOUR);
    const verdict = await offline(device);
    if (!verdict.ok) throw new Error(`refused: ${verdict.code}`);
    expect(verdict.expiresAt).toBe(T0 + 14 * DAY);
    expect(device.verifier.verify(verdict.token)).toMatchObject({ ok: true });
    world.advance(HOUR);
    expect(device.verifier.verify(verdict.token)).toMatchObject({ ok: false, reason: 'expired' });
    world.agentClock.advance(-2 * DAY);
    expect(device.verifier.verify(verdict.token)).toMatchObject({ ok: false, reason: 'expired' });
    expect(await offline(device)).toMatchObject({ code: 'clock_rollback' });
    expect(device.verifier.verify(verdict.token)).toMatchObject({ ok: false, reason: 'expired' });
    // A new process (the CLI) has no memory of its own: the persisted mark is what holds.
    const fresh = createLocalVerifier(device.opened);
    expect(fresh.verify(verdict.token)).toMatchObject({ ok: false, reason: 'expired' });
  });

  describe('a clock set back by less than the idle time (issue 11)', () => {
    /** Grant ends on day 14; offline sign-in on day 13; at true day 15 the clock reads day 13.5. */
    async function idleThenSetBack(): Promise<TestDevice> {
      const { device } = await deviceWithGrant();
      world.advance(13 * DAY);
      expect(await offline(device)).toMatchObject({ ok: true });
      world.advance(2 * DAY);
      world.agentClock.set(T0 + 13.5 * DAY);
      return device;
    }

    it('is refused on the same boot: the uptime says two days went by', async () => {
      const device = await idleThenSetBack();
      expect(await offline(device)).toMatchObject({ ok: false, code: 'clock_rollback' });
      const [rollback] = device.events('identity.device.clock_rollback_detected');
      expect(rollback).toMatchObject({ trustedTime: new Date(T0 + 15 * DAY).toISOString() });
    });

    it('is accepted across a reboot, the documented limit of the anchor rule', async () => {
      const device = await idleThenSetBack();
      world.monotonic.reboot();
      expect(await offline(device)).toMatchObject({ ok: true, mode: 'offline' });
    });
  });

  it('caps exp at the offline window when it ends before the grant', async () => {
    const device = await world.device();
    await world.user('amina');
    world.advance(5 * DAY);
    await signInOnline(device.agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS);
    world.advance(9 * DAY - 2 * HOUR);
    expect(await offline(device)).toMatchObject({ ok: true, expiresAt: T0 + 14 * DAY });
  });

  it('caps exp at the session TTL otherwise', async () => {
    const { device } = await deviceWithGrant();
    expect(
      await offline(device, PASSWORD, 'amina', { ...TEST_OPTIONS, sessionTtlMs: 30 * 60_000 }),
    ).toMatchObject({ ok: true, expiresAt: T0 + 30 * 60_000 });
  });
});
