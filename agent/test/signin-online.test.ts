import { generateKeyPairSync } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { LanternError, signJwt } from '@lantern/shared';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAgentApp } from '../src/daemon/agent-app.js';
import { signinRoutes } from '../src/daemon/signin-routes.js';
import { signInOnline } from '../src/signin/online-signin.js';
import { signIn } from '../src/signin/sign-in.js';
import type { SigninOptions } from '../src/signin/signin-agent.js';
import { OFFLINE_CHECK_ORDER, SIGNIN_REFUSALS } from '../src/signin/signin-refusals.js';
import { openAgentStore } from '../src/store/agent-store.js';
import { SyncClient } from '../src/sync/sync-client.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { HOUR, PASSWORD, T0, TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
let world: SigninWorld;
let device: TestDevice;
let userId = '';
beforeEach(async () => {
  world = await startSigninWorld(tempDir);
  userId = await world.user('amina');
  device = await world.device();
});
afterEach(async () => {
  await world.close();
});

const amina = (password = PASSWORD, options: SigninOptions = TEST_OPTIONS) =>
  signIn(device.agent, { username: 'amina', password }, options);

type MitmAnswer = { status: number; body: unknown };

/** A man in the middle on an ephemeral port: `answer` decides what each request gets. */
async function startMitm(
  answer: (request: IncomingMessage, chunks: Buffer[]) => Promise<MitmAnswer>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void answer(request, chunks).then(({ status, body }) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** What a man in the middle passes on: the device's request as sent, the CA's answer as it came. */
async function forwardToCa(request: IncomingMessage, chunks: Buffer[]): Promise<MitmAnswer> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name)) {
      headers[name] = value;
    }
  }
  const upstream = await fetch(`${world.caUrl}${request.url ?? '/'}`, {
    method: request.method ?? 'GET',
    headers,
    ...(chunks.length === 0 ? {} : { body: Buffer.concat(chunks) }),
  });
  return { status: upstream.status, body: await upstream.json() };
}

async function admin(method: 'POST', url: string, body: unknown = {}): Promise<void> {
  const response = await world.ca.admin(method, url, body);
  expect(response.statusCode, response.body).toBeLessThan(300);
}

describe('online sign-in: the CA decides, and its refusals are final', () => {
  it('bad_credentials, then locked by the CA, with no offline fallback and no local count', async () => {
    expect(await amina()).toMatchObject({ ok: true, mode: 'online' });
    expect(await amina('wrong')).toEqual({ ok: false, mode: 'online', code: 'bad_credentials' });
    for (let i = 0; i < 4; i += 1) await amina('wrong');
    // The CA answers a locked account like an unknown one (issue 15): still refused, still final.
    expect(await amina()).toEqual({ ok: false, mode: 'online', code: 'bad_credentials' });
    expect(device.count('lockout')).toBe(0);
    expect(device.count('outbox')).toBe(0);
  });

  it('suspended, and device_revoked once an admin revoked the device', async () => {
    await admin('POST', `/v1/admin/users/${userId}/suspend`);
    expect(await amina()).toEqual({ ok: false, mode: 'online', code: 'suspended' });
    await admin('POST', `/v1/admin/users/${userId}/reactivate`);
    await admin('POST', `/v1/admin/devices/${device.opened.binding.deviceId}/revoke`, {
      reason: 'lost',
    });
    expect(await amina()).toEqual({ ok: false, mode: 'online', code: 'device_revoked' });
  });

  it('stores a verified grant, a sealed verifier and refresh token, resets lockout, no events', async () => {
    const { db } = device.opened.store;
    db.prepare(
      'INSERT INTO lockout (user_id, failure_count, window_start, updated_at) VALUES (?, 2, ?, ?)',
    ).run(userId, T0, T0);
    const verdict = await amina();
    if (!verdict.ok) throw new Error(verdict.code);
    expect(verdict).toMatchObject({ mode: 'online', userId, username: 'amina' });
    expect(verdict.expiresAt).toBe(T0 + 8 * HOUR);
    expect(device.count('lockout')).toBe(0);
    expect(device.count('outbox')).toBe(0);
    const grant = db.prepare('SELECT * FROM grants').get() as Record<string, unknown>;
    expect(grant).toMatchObject({
      user_id: userId,
      username: 'amina',
      offline_until: T0 + 14 * 86_400_000,
      // The default policy lets a learner register a passkey on this device and use it offline.
      methods_json: '["password","webauthn"]',
      revoked: 0,
    });
    const verifier = db.prepare('SELECT * FROM verifiers').get() as Record<string, unknown>;
    expect(verifier).toMatchObject({ user_id: userId, kind: 'password', credential_id: '' });
    expect(JSON.parse(verifier['params_json'] as string)).toMatchObject({
      kdf: 'scrypt',
      N: 2 ** 14,
      r: 8,
      p: 1,
    });
    expect(Buffer.from(verifier['sealed'] as Buffer).includes(Buffer.from(PASSWORD))).toBe(false);
    const session = db
      .prepare('SELECT * FROM sessions WHERE session_id = ?')
      .get(verdict.sessionId) as Record<string, unknown>;
    expect(session).toMatchObject({ user_id: userId, offline: 0, grant_id: grant['grant_id'] });
    const refresh = device.agent.dataKey.open(
      session['refresh_sealed'] as Buffer,
      `sessions/${verdict.sessionId}/refresh_sealed`,
    );
    expect(refresh.toString()).toMatch(/^lrt_/);
    expect(device.verifier.verify(verdict.token)).toMatchObject({ ok: true, kind: 'session' });
    expect(device.verifier.verify(verdict.accessToken)).toMatchObject({ ok: true, kind: 'access' });
    // A second online sign-in replaces the grant instead of piling them up.
    await amina();
    expect(device.count('grants')).toBe(1);
  });

  it('signs in without a grant when the tenant allows no offline sign-in, dropping the old one', async () => {
    expect(await amina()).toMatchObject({ ok: true });
    expect(device.count('grants')).toBe(1);
    const policy = await world.ca.admin('PUT', `/v1/admin/tenants/${world.tenantId}/mfa-policy`, {
      roles: { learner: { required: [], offline: [] } },
    });
    expect(policy.statusCode, policy.body).toBe(200);
    const verdict = await amina();
    if (!verdict.ok) throw new Error(verdict.code);
    expect(verdict.token).toBe(verdict.accessToken);
    expect([device.count('grants'), device.count('verifiers')]).toEqual([0, 0]);
    expect(device.verifier.verify(verdict.token)).toMatchObject({ ok: true, kind: 'access' });
    world.link.set('down');
    expect(await amina(PASSWORD, { ...TEST_OPTIONS, caTimeoutMs: 300 })).toMatchObject({
      code: 'no_grant',
    });
  });

  it('moves trusted time up to the signed grant iat when the CA clock is ahead', async () => {
    // Within what the CA accepts of a device proof (its exp plus 30 s).
    world.ca.clock.advance(60_000);
    expect(await amina()).toMatchObject({ ok: true });
    expect(device.agent.trustedTime.trustedNow()).toBe(T0 + 60_000);
    expect(device.agent.trustedTime.state().source).toBe('server');
  });

  it('fetches the JWKS again when a token names a key it has not seen (rotation)', async () => {
    await admin('POST', '/v1/admin/keys/rotate');
    await admin('POST', '/v1/admin/keys/rotate');
    // A set signed in the second of the one held, with other keys, could be either; a later one
    // is the newer.
    world.ca.clock.advance(1000);
    const before = device.agent.jwks.keys();
    expect(before.has(world.ca.ctx.tokenKeys.activeKid)).toBe(false);
    expect(await amina()).toMatchObject({ ok: true, mode: 'online' });
    expect(device.agent.jwks.keys().has(world.ca.ctx.tokenKeys.activeKid)).toBe(true);
    // With its etag: were the set not the CA's current one, the next sync would bring that.
    const { jwksEtag } = (await (await fetch(`${world.caUrl}/v1/ca/jwks.jws`)).json()) as {
      jwksEtag: string;
    };
    const stored = device.opened.store.db
      .prepare('SELECT jwks_etag FROM sync_state WHERE id = 1')
      .pluck()
      .get();
    expect(stored).toBe(jwksEtag);
  });

  it('a man in the middle cannot plant token keys: forged tokens refused, no key cached', async () => {
    // An attacker between device and CA re-signs the CA's answer with its own key and answers
    // the key fetch with a key set holding that key: unsigned, or as a JWS with the real
    // issuing CA's certificate in x5c but the attacker's signature.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const attackerJwk = {
      ...publicKey.export({ format: 'jwk' }),
      kid: 'attacker',
      use: 'sig',
      alg: 'ES256',
    };
    const issuingDer = world.ca.ctx.ca.issuingPem.replace(/-----[^-]+-----|\s/g, '');
    const now = Math.floor(world.ca.clock.now() / 1000);
    const forgedKeys = signJwt(
      { typ: 'jwks', iat: now, exp: now + 3600, etag: 'planted', keys: [attackerJwk] },
      { typ: 'lantern-jwks+jws', x5c: [issuingDer] } as Record<string, unknown>,
      privateKey,
    );
    const fetched: string[] = [];
    const mitm = await startMitm(async (request, chunks) => {
      const path = request.url ?? '/';
      if (path === '/.well-known/jwks.json') {
        fetched.push(path);
        return { status: 200, body: { keys: [attackerJwk] } };
      }
      if (path === '/v1/ca/jwks.jws') {
        fetched.push(path);
        return { status: 200, body: { jwks: forgedKeys, jwksEtag: 'planted' } };
      }
      const upstream = await forwardToCa(request, chunks);
      if (path === '/v1/auth/login' && upstream.status === 200) {
        const answer = upstream.body as { accessToken: string; offlineGrant?: unknown };
        const claims = JSON.parse(
          Buffer.from(answer.accessToken.split('.')[1] ?? '', 'base64url').toString(),
        ) as Record<string, unknown>;
        delete answer.offlineGrant;
        answer.accessToken = signJwt(claims, { typ: 'at+jwt', kid: 'attacker' }, privateKey);
      }
      return upstream;
    });
    const { db } = device.opened.store;
    const cachedKeys = () => db.prepare('SELECT keys_json FROM jwks WHERE id = 1').pluck().get();
    const before = cachedKeys();
    try {
      db.prepare('UPDATE binding SET ca_url = ? WHERE id = 1').run(mitm.url);
      const failure = await amina().catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: 'signin_answer_invalid' });
      expect((failure as Error).message).toContain(
        'refused the key set it sent: the token keys: jws',
      );
      expect(fetched).toEqual(['/v1/ca/jwks.jws']);
    } finally {
      await mitm.close();
    }
    expect(cachedKeys()).toBe(before);
    expect(device.agent.jwks.keys().has('attacker')).toBe(false);
    expect(device.count('grants')).toBe(0);
    expect(device.count('sessions')).toBe(0);
    expect(device.count('verifiers')).toBe(0);
  });

  it('a man in the middle holding a revoked key cannot bring it back with a key set signed before', async () => {
    // The attacker records what the CA signed while the key was live (a login answer signed by
    // it, withheld from the device, and the signed key set holding it), then replays both after
    // the revocation.
    const recorded = new Map<string, { status: number; body: unknown }>();
    let replay = false;
    const mitm = await startMitm(async (request, chunks) => {
      const path = request.url ?? '/';
      const kept = recorded.get(path);
      if (replay && kept !== undefined) return kept;
      const answer = await forwardToCa(request, chunks);
      if (replay || (path !== '/v1/auth/login' && path !== '/v1/ca/jwks.jws')) return answer;
      recorded.set(path, answer);
      return path === '/v1/auth/login' ? { status: 502, body: {} } : answer;
    });
    try {
      device.opened.store.db.prepare('UPDATE binding SET ca_url = ? WHERE id = 1').run(mitm.url);
      expect(await amina()).toMatchObject({ ok: false, mode: 'offline', code: 'no_grant' });
      expect(recorded.get('/v1/auth/login')?.status).toBe(200);
      expect((await fetch(`${mitm.url}/v1/ca/jwks.jws`)).status).toBe(200);
      // All in the CA's same second: a set signed then is told from the current one by its etag.
      const compromised = world.ca.ctx.tokenKeys.activeKid;
      await admin('POST', `/v1/admin/keys/${compromised}/revoke`);
      const synced = await new SyncClient({ agent: device.opened, sleep: async () => {} }).run();
      expect(synced.completed).toBe(true);
      expect(device.agent.jwks.keys().has(compromised)).toBe(false);

      replay = true;
      const failure = await amina().catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: 'signin_answer_invalid' });
      expect((failure as Error).message).toContain('older than the one this device holds');
      expect(device.agent.jwks.keys().has(compromised)).toBe(false);
    } finally {
      await mitm.close();
    }
  });

  it('takes the key set of a sync answer even when the set held claims a later signing time (a CA clock that ran ahead)', async () => {
    const { db } = device.opened.store;
    db.prepare('UPDATE jwks SET signed_at = signed_at + 365 * 86400 WHERE id = 1').run();
    const compromised = world.ca.ctx.tokenKeys.activeKid;
    await admin('POST', `/v1/admin/keys/${compromised}/revoke`);
    const synced = await new SyncClient({ agent: device.opened, sleep: async () => {} }).run();
    expect(synced.completed).toBe(true);
    expect(device.agent.jwks.keys().has(compromised)).toBe(false);
    expect(db.prepare('SELECT signed_at FROM jwks WHERE id = 1').pluck().get()).toBeLessThanOrEqual(
      Math.floor(world.ca.clock.now() / 1000),
    );
  });

  it('refuses an answer whose tokens do not check out (another issuer), storing nothing', async () => {
    world.ca.ctx.publicUrl = 'http://impostor.test';
    const failure = await amina().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(LanternError);
    expect(failure).toMatchObject({ code: 'signin_answer_invalid', status: 502 });
    expect((failure as Error).message).toContain(
      `the CA calls itself http://impostor.test, you enrolled through ${world.caUrl}`,
    );
    expect(device.count('grants')).toBe(0);
    expect(device.count('sessions')).toBe(0);
    expect(device.count('verifiers')).toBe(0);
  });
});

describe("the CA's name is what it says, not the URL a device reached it by (issue 24)", () => {
  const issuerOf = (dev: TestDevice) =>
    dev.opened.store.db.prepare('SELECT issuer FROM binding WHERE id = 1').pluck().get();
  const syncOnce = (dev: TestDevice) =>
    new SyncClient({ agent: dev.opened, sleep: async () => {} }).run();

  it('learns the issuer from the enrollment answer and signs in online under another name', async () => {
    world.ca.ctx.publicUrl = 'https://lantern.hillside.example';
    const other = await world.device();
    expect(issuerOf(other)).toBe('https://lantern.hillside.example');
    expect(other.opened.binding.caUrl).toBe(world.caUrl);
    const answer = await signIn(
      other.agent,
      { username: 'amina', password: PASSWORD },
      TEST_OPTIONS,
    );
    expect(answer).toMatchObject({ ok: true, mode: 'online' });
  });

  it('an old store without the issuer uses its CA URL, then learns a renamed CA from a signed sync', async () => {
    device.opened.store.db.prepare('UPDATE binding SET issuer = NULL WHERE id = 1').run();
    expect(await amina()).toMatchObject({ ok: true, mode: 'online' });
    world.ca.ctx.publicUrl = 'https://renamed.example';
    await expect(amina()).rejects.toThrow(/the CA calls itself https:\/\/renamed\.example/);
    expect((await syncOnce(device)).completed).toBe(true);
    expect(issuerOf(device)).toBe('https://renamed.example');
    expect(await amina()).toMatchObject({ ok: true, mode: 'online' });
  });
});

describe('offline fallback only when the CA gives no answer', () => {
  it.each(['down', 'error', 'hang'] as const)('CA %s: signs in offline', async (mode) => {
    expect(await amina()).toMatchObject({ ok: true, mode: 'online' });
    world.link.set(mode);
    const started = Date.now();
    expect(await amina(PASSWORD, { ...TEST_OPTIONS, caTimeoutMs: 300 })).toMatchObject({
      ok: true,
      mode: 'offline',
    });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await amina('wrong', { ...TEST_OPTIONS, caTimeoutMs: 300 })).toMatchObject({
      ok: false,
      mode: 'offline',
      code: 'bad_credentials',
    });
    expect(device.events().map((event) => event['type'])).toEqual([
      'identity.user.logged_in',
      'identity.session.created',
      'identity.user.login_failed',
    ]);
  });

  it('a token key the CA revoked: from the next sync its grants sign no one in, their sessions end', async () => {
    const offline = { ...TEST_OPTIONS, caTimeoutMs: 300 };
    expect(await amina()).toMatchObject({ ok: true, mode: 'online' });
    world.link.set('down');
    const opened = await amina(PASSWORD, offline);
    if (!opened.ok) throw new Error(opened.code);
    expect(device.verifier.verify(opened.token)).toMatchObject({ ok: true, kind: 'session' });
    world.link.set('up');
    const compromised = world.ca.ctx.tokenKeys.activeKid;
    await admin('POST', `/v1/admin/keys/${compromised}/revoke`);
    const synced = await new SyncClient({ agent: device.opened, sleep: async () => {} }).run();
    expect(synced.completed).toBe(true);
    expect(device.agent.jwks.keys().has(compromised)).toBe(false);
    // The session opened offline under the key's grant ends with it.
    expect(device.count('grants')).toBe(0);
    expect(device.verifier.verify(opened.token)).toMatchObject({
      ok: false,
      reason: 'session_ended',
    });
    world.link.set('down');
    expect(await amina(PASSWORD, offline)).toMatchObject({
      ok: false,
      mode: 'offline',
      code: 'no_grant',
    });
    // One online sign-in brings a grant under the new key.
    world.link.set('up');
    expect(await amina()).toMatchObject({ ok: true, mode: 'online' });
    world.link.set('down');
    expect(await amina(PASSWORD, offline)).toMatchObject({ ok: true, mode: 'offline' });
  });

  it('without any earlier online sign-in there is nothing to sign in with offline', async () => {
    world.link.set('down');
    expect(await amina()).toEqual({ ok: false, mode: 'offline', code: 'no_grant' });
  });
});

describe('refusal codes', () => {
  it('each has a status and a message for people, and the offline ones an order', () => {
    for (const [code, { status, message }] of Object.entries(SIGNIN_REFUSALS)) {
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(message.length, code).toBeGreaterThan(30);
    }
    expect(SIGNIN_REFUSALS.device_revoked.message).toBe(
      "This device was revoked by your school's administrator. Ask them to re-enroll it.",
    );
    expect(new Set(OFFLINE_CHECK_ORDER).size).toBe(OFFLINE_CHECK_ORDER.length);
    expect(Object.keys(SIGNIN_REFUSALS).sort()).toEqual(
      [...OFFLINE_CHECK_ORDER, 'suspended', 'ca_refused'].sort(),
    );
  });
});

describe('loopback API: /v1/signin, /v1/verify, /v1/signout', () => {
  const SECRET = 's'.repeat(43);
  let app: FastifyInstance;
  const call = (url: string, payload: unknown, secret = SECRET) =>
    app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${secret}` },
      payload: payload as Record<string, unknown>,
    });

  beforeEach(async () => {
    const store = openAgentStore(join(device.dataDir, 'agent.db'), { clock: world.agentClock });
    app = await buildAgentApp({
      store,
      localSecret: SECRET,
      features: [
        signinRoutes({
          dataDir: device.dataDir,
          clock: world.agentClock,
          signin: { ...TEST_OPTIONS, caTimeoutMs: 300 },
        }),
      ],
    });
    app.addHook('onClose', async () => store.close());
  });
  afterEach(async () => {
    await app.close();
  });

  it('signs in online, then offline, verifies and signs out', async () => {
    const online = await call('/v1/signin', { username: 'amina', password: PASSWORD });
    expect(online.statusCode, online.body).toBe(200);
    expect(online.json()).toMatchObject({
      ok: true,
      mode: 'online',
      userId,
      expiresAt: new Date(T0 + 8 * HOUR).toISOString(),
      accessToken: expect.any(String),
    });
    world.link.set('down');
    const offline = await call('/v1/signin', { username: 'amina', password: PASSWORD });
    expect(offline.json()).toMatchObject({ ok: true, mode: 'offline', userId });
    const { token, sessionId } = offline.json<{ token: string; sessionId: string }>();
    expect((await call('/v1/verify', { token })).json()).toMatchObject({
      ok: true,
      kind: 'session',
      claims: { sub: userId, sid: sessionId },
    });
    const signout = await call('/v1/signout', { sessionId });
    expect(signout.json()).toMatchObject({ sessionId, alreadyEnded: false });
    expect((await call('/v1/verify', { token })).json()).toEqual({
      ok: false,
      reason: 'session_ended',
      message: 'This session was signed out. Sign in again.',
    });
  });

  it('answers refusals as { code, message } with their status', async () => {
    await call('/v1/signin', { username: 'amina', password: PASSWORD });
    world.link.set('down');
    const refused = await call('/v1/signin', { username: 'amina', password: 'wrong' });
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toEqual({
      code: 'bad_credentials',
      message: SIGNIN_REFUSALS.bad_credentials.message,
    });
    expect((await call('/v1/signin', { username: 'amina' })).json()).toMatchObject({
      code: 'invalid_request',
    });
    expect(
      (await call('/v1/signout', { sessionId: 'ses_01J9Z3YQ8M6W4Q9V2K7T5R3N1D' })).statusCode,
    ).toBe(404);
    const anonymous = await call('/v1/signin', { username: 'amina', password: PASSWORD }, 'x');
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ code: 'unauthorized' });
  });

  it('answers not_enrolled from a data directory without a binding', async () => {
    const empty = join(tempDir(), 'empty');
    const store = openAgentStore(join(empty, 'agent.db'), { clock: world.agentClock });
    const bare = await buildAgentApp({
      store,
      localSecret: SECRET,
      features: [signinRoutes({ dataDir: empty, clock: world.agentClock })],
    });
    try {
      const response = await bare.inject({
        method: 'POST',
        url: '/v1/signin',
        headers: { authorization: `Bearer ${SECRET}` },
        payload: { username: 'amina', password: PASSWORD },
      });
      expect(response.statusCode).toBe(409);
      expect(response.json()).toMatchObject({ code: 'not_enrolled' });
    } finally {
      await bare.close();
      store.close();
    }
  });
});

describe('signInOnline on its own', () => {
  it('reports unreachable instead of deciding when the CA is down', async () => {
    world.link.set('down');
    expect(
      await signInOnline(device.agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS),
    ).toMatchObject({ kind: 'unreachable' });
  });
});
