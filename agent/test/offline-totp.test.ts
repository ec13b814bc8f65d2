import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OfflineTotpSecret } from '@lantern/shared';
import { base32Decode, verifyTotp } from '@lantern/shared';
import type { FastifyInstance } from 'fastify';
import { authenticator } from 'otplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OtpVectorAlgorithm } from '../../test/support/otp-vectors.js';
import { loadOtpVectors } from '../../test/support/otp-vectors.js';
import { buildAgentApp } from '../src/daemon/agent-app.js';
import { signinRoutes } from '../src/daemon/signin-routes.js';
import { totpRoutes } from '../src/daemon/totp-routes.js';
import { enforceRevocations } from '../src/enforcement/enforce-revocations.js';
import { signInOffline } from '../src/signin/offline-signin.js';
import type { SigninVerdict } from '../src/signin/signin-agent.js';
import { openAgentStore } from '../src/store/agent-store.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { PASSWORD, TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const SECRET = 'local-secret-for-tests-0123456789abcdef';
const STEP_MS = 30_000;
const vectors = loadOtpVectors();

const tempDir = useTempDirs();
let world: SigninWorld;
let device: TestDevice;
let userId: string;
let app: FastifyInstance;

beforeEach(async () => {
  world = await startSigninWorld(tempDir);
  userId = await world.user('amina');
  device = await world.device();
  const store = openAgentStore(join(device.dataDir, 'agent.db'), { clock: world.agentClock });
  app = await buildAgentApp({
    store,
    localSecret: SECRET,
    features: [
      signinRoutes({
        dataDir: device.dataDir,
        clock: world.agentClock,
        signin: { ...TEST_OPTIONS, caTimeoutMs: 20_000 },
      }),
      totpRoutes({ dataDir: device.dataDir, clock: world.agentClock, caTimeoutMs: 20_000 }),
    ],
  });
  app.addHook('onClose', async () => store.close());
});
afterEach(async () => {
  await app.close();
  await world.close();
});

const call = (url: string, payload: Record<string, unknown>) =>
  app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${SECRET}` },
    payload,
  });

/** What the user's authenticator app shows, `steps` periods from now (otplib: an independent TOTP). */
const codeAt = (secret: string, steps = 0) =>
  authenticator.clone({ epoch: world.agentClock.now() + steps * STEP_MS }).generate(secret);

const offline = (totp?: string, password = PASSWORD): Promise<SigninVerdict> =>
  signInOffline(
    device.agent,
    { username: 'amina', password, ...(totp === undefined ? {} : { totp }) },
    TEST_OPTIONS,
  );

const totpRows = () =>
  device.opened.store.db.prepare("SELECT * FROM verifiers WHERE kind = 'totp'").all() as Record<
    string,
    unknown
  >[];

const lastSessionAmr = () =>
  JSON.parse(
    (
      device.opened.store.db
        .prepare('SELECT amr_json AS amr FROM sessions ORDER BY created_at DESC, rowid DESC')
        .get() as { amr: string }
    ).amr,
  ) as string[];

async function requireTotpForLearners(): Promise<void> {
  const policy = await world.ca.admin('PUT', `/v1/admin/tenants/${world.tenantId}/mfa-policy`, {
    roles: { learner: { required: ['totp'], offline: ['password', 'totp'] } },
  });
  expect(policy.statusCode, policy.body).toBe(200);
}

/**
 * Enrols amina's TOTP through the agent's loopback routes, then signs her in online with a code
 * so the device receives the secret with her grant. Returns the base32 secret.
 */
async function enrolThroughAgent(): Promise<string> {
  const first = await call('/v1/signin', { username: 'amina', password: PASSWORD });
  expect(first.statusCode, JSON.stringify(first.json())).toBe(200);
  const { accessToken } = first.json<{ accessToken: string }>();
  const enrolled = await call('/v1/totp/enroll', { accessToken, password: PASSWORD });
  expect(enrolled.statusCode, enrolled.body).toBe(201);
  expect(enrolled.headers['cache-control']).toBe('no-store');
  const { secret, qrCodeDataUrl } = enrolled.json<{ secret: string; qrCodeDataUrl: string }>();
  expect(qrCodeDataUrl).toMatch(/^data:image\/png;base64,/);
  const confirmed = await call('/v1/totp/confirm', { accessToken, code: codeAt(secret) });
  expect(confirmed.statusCode, confirmed.body).toBe(200);
  expect(confirmed.json()).toMatchObject({ userId, kind: 'totp' });
  world.advance(STEP_MS);
  const withCode = await call('/v1/signin', {
    username: 'amina',
    password: PASSWORD,
    totp: codeAt(secret),
  });
  expect(withCode.statusCode, withCode.body).toBe(200);
  expect(withCode.json()).toMatchObject({ mode: 'online', userId });
  return secret;
}

describe('the agent TOTP verifier against RFC 6238 Appendix B', () => {
  const algorithms: readonly OtpVectorAlgorithm[] = ['SHA1', 'SHA256', 'SHA512'];

  it.each(algorithms)(
    '%s, 8 digits: each code passes at its time, once, through the store',
    (algorithm) => {
      const { t0, period, digits, cases } = vectors.totp;
      const secretAscii = vectors.totp.secrets_ascii[algorithm];
      const delivered: OfflineTotpSecret = {
        // otplib's encoder reads its input as hex.
        secret: authenticator.encode(Buffer.from(secretAscii, 'ascii').toString('hex')),
        algorithm,
        digits,
        period,
        notBeforeStep: 0,
      };
      const holder = `usr_vectors_${algorithm}`;
      device.agent.totp.save(holder, delivered, 0);
      for (const { time, [algorithm]: code } of cases) {
        const params = { secret: Buffer.from(secretAscii, 'ascii'), algorithm, digits, period, t0 };
        const step = Math.floor(time / period);
        expect(verifyTotp(params, code, time, { window: 0 })).toEqual({ ok: true, step });
        const wrong = code.slice(0, -1) + String((Number(code.at(-1)) + 1) % 10);
        expect(verifyTotp(params, wrong, time, { window: 0 })).toEqual({
          ok: false,
          reason: 'invalid',
        });
        expect(device.agent.totp.check(holder, wrong, time * 1000)).toEqual({
          ok: false,
          reason: 'invalid',
        });
        // Sealed at rest, opened, checked at trusted time and the step recorded.
        expect(device.agent.totp.check(holder, code, time * 1000)).toEqual({ ok: true, step });
        expect(device.agent.totp.check(holder, code, time * 1000)).toEqual({
          ok: false,
          reason: 'replayed',
        });
      }
    },
  );

  it('agrees with otplib on 6-digit SHA1 codes, the form authenticator apps use', () => {
    const secret = authenticator.generateSecret(20);
    device.agent.totp.save(
      userId,
      { secret, algorithm: 'SHA1', digits: 6, period: 30, notBeforeStep: 0 },
      0,
    );
    const now = world.agentClock.now();
    expect(device.agent.totp.check(userId, codeAt(secret), now)).toMatchObject({ ok: true });
  });
});

describe('offline sign-in with TOTP', () => {
  it('accepts a good code once; refuses a replay, an older code after a newer one, and ±2 steps', async () => {
    await requireTotpForLearners();
    const secret = await enrolThroughAgent();
    expect(totpRows()).toHaveLength(1);
    world.link.set('down');
    world.advance(3 * STEP_MS);

    for (const steps of [2, -2]) {
      expect(await offline(codeAt(secret, steps))).toMatchObject({ ok: false, code: 'mfa_failed' });
    }
    const now = codeAt(secret);
    const verdict = await offline(now);
    expect(verdict).toMatchObject({ ok: true, mode: 'offline', userId });
    expect(lastSessionAmr()).toEqual(['pwd', 'otp']);
    expect(device.events('identity.user.logged_in').at(-1)).toMatchObject({ amr: ['pwd', 'otp'] });

    expect(await offline(now)).toMatchObject({ ok: false, code: 'mfa_failed', userId });
    // One step back is inside the window and was never used, but comes after a newer code.
    expect(await offline(codeAt(secret, -1))).toMatchObject({ ok: false, code: 'mfa_failed' });
    // The next step's code is good once its time comes.
    world.advance(STEP_MS);
    expect(await offline(codeAt(secret))).toMatchObject({ ok: true });

    const failures = device.events('identity.user.login_failed');
    expect(
      failures.map((event) => [event['reason'], event['method'], event['failureCount']]),
    ).toEqual([
      ['mfa_failed', 'totp', 1],
      ['mfa_failed', 'totp', 2],
      ['mfa_failed', 'totp', 1],
      ['mfa_failed', 'totp', 2],
    ]);
  });

  it('a code the CA already accepted online is refused offline', async () => {
    await requireTotpForLearners();
    const secret = await enrolThroughAgent();
    world.link.set('down');
    // Same step as the online sign-in's code.
    expect(await offline(codeAt(secret))).toMatchObject({ ok: false, code: 'mfa_failed' });
    world.advance(STEP_MS);
    expect(await offline(codeAt(secret))).toMatchObject({ ok: true });
  });

  it('missing code → mfa_required, not counted; wrong codes and passwords lock together', async () => {
    await requireTotpForLearners();
    const secret = await enrolThroughAgent();
    world.link.set('down');
    world.advance(STEP_MS);
    expect(await offline()).toMatchObject({ ok: false, code: 'mfa_required', userId });
    // A wrong password is refused before the code is looked at.
    expect(await offline(codeAt(secret), 'wrong password')).toMatchObject({
      code: 'bad_credentials',
    });
    expect(await offline('000000')).toMatchObject({ code: 'mfa_failed' });
    expect(await offline(undefined, 'wrong again')).toMatchObject({ code: 'bad_credentials' });
    expect(await offline('111111')).toMatchObject({ code: 'mfa_failed' });
    const locked = await offline('222222');
    expect(locked).toMatchObject({ ok: false, code: 'locked', lockedUntil: expect.any(Number) });
    // Locked: even the right code is refused now.
    expect(await offline(codeAt(secret))).toMatchObject({ code: 'locked' });
    expect(
      device
        .events('identity.user.login_failed')
        .map((event) => [event['reason'], event['method'], event['failureCount']]),
    ).toEqual([
      ['mfa_required', 'totp', 0],
      ['invalid_credentials', 'password', 1],
      ['mfa_failed', 'totp', 2],
      ['invalid_credentials', 'password', 3],
      ['mfa_failed', 'totp', 4],
      ['mfa_failed', 'totp', 5],
      ['locked', 'password', 5],
    ]);
    expect(device.events('identity.user.locked')).toHaveLength(1);
  });

  it('an optional TOTP: no code signs in with the password alone, a given code must be right', async () => {
    const secret = await enrolThroughAgent();
    world.link.set('down');
    world.advance(STEP_MS);
    expect(await offline()).toMatchObject({ ok: true });
    expect(lastSessionAmr()).toEqual(['pwd']);
    expect(await offline('123456')).toMatchObject({ code: 'mfa_failed' });
    expect(await offline(codeAt(secret))).toMatchObject({ ok: true });
    expect(lastSessionAmr()).toEqual(['pwd', 'otp']);
  });

  it('a grant without totp drops the stored secret; a required code it cannot check is refused', async () => {
    await requireTotpForLearners();
    const secret = await enrolThroughAgent();
    expect(totpRows()).toHaveLength(1);
    // The admin takes TOTP out of the offline methods: the next grant carries no secret.
    const policy = await world.ca.admin('PUT', `/v1/admin/tenants/${world.tenantId}/mfa-policy`, {
      roles: { learner: { required: ['totp'], offline: ['password'] } },
    });
    expect(policy.statusCode, policy.body).toBe(200);
    world.advance(STEP_MS);
    const online = await call('/v1/signin', {
      username: 'amina',
      password: PASSWORD,
      totp: codeAt(secret),
    });
    expect(online.statusCode, online.body).toBe(200);
    expect(totpRows()).toHaveLength(0);
    world.link.set('down');
    world.advance(STEP_MS);
    const demanding = { ...TEST_OPTIONS, mfaPolicy: { requiresSecondFactor: () => true } };
    const input = { username: 'amina', password: PASSWORD, totp: codeAt(secret) };
    expect(await signInOffline(device.agent, input, demanding)).toMatchObject({
      ok: false,
      code: 'method_not_allowed',
    });
    expect(
      await signInOffline(device.agent, { ...input, totp: undefined }, demanding),
    ).toMatchObject({
      code: 'mfa_required',
    });
    // Without the hook the grant's own claims rule: the admin's explicit password-only offline.
    expect(await offline(codeAt(secret))).toMatchObject({ ok: true });
    expect(lastSessionAmr()).toEqual(['pwd']);
  });

  it('keeps the secret sealed with the data key: neither form is in the SQLite files', async () => {
    const secret = await enrolThroughAgent();
    const raw = base32Decode(secret);
    const [row] = totpRows();
    expect(row?.['sealed']).toBeInstanceOf(Buffer);
    device.opened.store.db.pragma('wal_checkpoint(TRUNCATE)');
    const path = join(device.dataDir, 'agent.db');
    const files = [path, `${path}-wal`].filter((file) => existsSync(file));
    const bytes = Buffer.concat(files.map((file) => readFileSync(file)));
    expect(bytes.length).toBeGreaterThan(0);
    for (const form of [
      Buffer.from(secret),
      Buffer.from(secret.toLowerCase()),
      raw,
      Buffer.from(raw.toString('hex')),
      Buffer.from(raw.toString('base64')),
    ]) {
      expect(bytes.includes(form), form.toString()).toBe(false);
    }
    // Moved to another user's row, the blob does not open: that user has no usable secret.
    device.opened.store.db
      .prepare("UPDATE verifiers SET user_id = 'usr_someone_else' WHERE kind = 'totp'")
      .run();
    expect(
      device.agent.totp.check('usr_someone_else', codeAt(secret), world.agentClock.now()),
    ).toBeNull();
  });

  it('device revocation wipes the secret with the verifiers; user revocation drops it with the grant', async () => {
    await enrolThroughAgent();
    const now = world.agentClock.now();
    enforceRevocations(
      device.opened.store,
      [{ seq: 1, kind: 'user', id: userId, revokedAt: now, reason: 'admin' }],
      { deviceId: device.opened.binding.deviceId, now },
    );
    expect(totpRows()).toHaveLength(0);
    expect(device.count('grants')).toBe(0);

    world.advance(STEP_MS);
    await enrolAgainAfterRevocation();
    expect(totpRows()).toHaveLength(1);
    const later = world.agentClock.now();
    enforceRevocations(
      device.opened.store,
      [
        {
          seq: 2,
          kind: 'device',
          id: device.opened.binding.deviceId,
          revokedAt: later,
          reason: 'lost',
        },
      ],
      { deviceId: device.opened.binding.deviceId, now: later },
    );
    expect([totpRows().length, device.count('verifiers'), device.count('grants')]).toEqual([
      0, 0, 0,
    ]);
  });
});

/** After a user revocation the CA still knows the TOTP: one more online sign-in delivers it. */
async function enrolAgainAfterRevocation(): Promise<void> {
  device.opened.store.db.exec('DELETE FROM revocations');
  const secret = await world.ca.ctx.store.db
    .prepare("SELECT 1 FROM totp_credentials WHERE status = 'active'")
    .get();
  expect(secret).toBeDefined();
  // A learner's TOTP is optional: the password alone brings the grant and the sealed secret.
  const again = await call('/v1/signin', { username: 'amina', password: PASSWORD });
  expect(again.statusCode, again.body).toBe(200);
}

describe('online sign-in with TOTP through the agent', () => {
  it('forwards the code to the CA; the CA refuses a replayed or missing one', async () => {
    await requireTotpForLearners();
    const secret = await enrolThroughAgent();
    expect(lastSessionAmr()).toEqual(['pwd', 'otp']);
    const replay = await call('/v1/signin', {
      username: 'amina',
      password: PASSWORD,
      totp: codeAt(secret),
    });
    expect(replay.statusCode).toBe(401);
    expect(replay.json()).toMatchObject({ code: 'mfa_failed' });
    const missing = await call('/v1/signin', { username: 'amina', password: PASSWORD });
    expect(missing.statusCode).toBe(403);
    expect(missing.json()).toMatchObject({ code: 'mfa_required' });
    world.advance(STEP_MS);
    const fresh = await call('/v1/signin', {
      username: 'amina',
      password: PASSWORD,
      totp: codeAt(secret),
    });
    expect(fresh.json()).toMatchObject({ ok: true, mode: 'online' });
  });

  it('enrolment needs the password again: an access token alone or a wrong password is refused', async () => {
    const first = await call('/v1/signin', { username: 'amina', password: PASSWORD });
    const { accessToken } = first.json<{ accessToken: string }>();
    const tokenOnly = await call('/v1/totp/enroll', { accessToken });
    expect(tokenOnly.statusCode).toBe(400);
    const failuresBefore = device.events('identity.user.login_failed').length;
    const wrong = await call('/v1/totp/enroll', { accessToken, password: 'not the password' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ code: 'bad_credentials' });
    expect(wrong.body).not.toContain('secret');
    // Counted like a wrong password at sign-in: no offline guessing loop through enrolment.
    expect(device.events('identity.user.login_failed')).toHaveLength(failuresBefore + 1);
    const good = await call('/v1/totp/enroll', { accessToken, password: PASSWORD });
    expect(good.statusCode, good.body).toBe(201);
  });

  it('validates the loopback TOTP routes and reports a CA that does not answer', async () => {
    expect(
      (await call('/v1/signin', { username: 'amina', password: PASSWORD, totp: '12ab56' })).json(),
    ).toMatchObject({
      code: 'invalid_request',
    });
    expect((await call('/v1/totp/enroll', {})).statusCode).toBe(400);
    expect((await call('/v1/totp/confirm', { accessToken: 'a.b.c', code: '1' })).statusCode).toBe(
      400,
    );
    const forged = await call('/v1/totp/enroll', {
      accessToken: 'aaaaaaaa.bbbbbbbbbb.cccccccccc',
      password: PASSWORD,
    });
    expect(forged.statusCode).toBe(401);
    const first = await call('/v1/signin', { username: 'amina', password: PASSWORD });
    const { accessToken } = first.json<{ accessToken: string }>();
    world.link.set('down');
    const down = await call('/v1/totp/enroll', { accessToken, password: PASSWORD });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ code: 'ca_unreachable' });
  });
});
