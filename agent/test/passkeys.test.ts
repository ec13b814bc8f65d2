import { readFileSync } from 'node:fs';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SoftAuthenticator } from '../../test/support/soft-authenticator.js';
import { agentPaths } from '../src/data-dir/agent-paths.js';
import { ensureLocalSecret } from '../src/data-dir/local-secret.js';
import { buildAgentApp } from '../src/daemon/agent-app.js';
import { passkeyRoutes } from '../src/daemon/passkey-routes.js';
import { signinRoutes } from '../src/daemon/signin-routes.js';
import { signinPage } from '../src/daemon/ui/signin-page.js';
import { DEFAULT_PASSKEY_CONFIG } from '../src/passkeys/passkey-config.js';
import { PASSKEY_REFUSALS } from '../src/passkeys/passkey-refusals.js';
import { SIGNIN_REFUSALS } from '../src/signin/signin-refusals.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { PASSWORD, TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const ORIGIN = 'http://localhost:7767';
const HOST = 'localhost:7767';
const tempDir = useTempDirs();

let world: SigninWorld;
let device: TestDevice;
let app: FastifyInstance;
let secret = '';
let cookie = '';
let userId = '';

beforeEach(async () => {
  world = await startSigninWorld(tempDir);
  userId = await world.user('amara');
  device = await world.device();
  const { dataDir } = device;
  const clock = world.agentClock;
  secret = await ensureLocalSecret(agentPaths(dataDir).localSecret);
  app = await buildAgentApp({
    store: device.opened.store,
    localSecret: secret,
    features: [
      signinRoutes({ dataDir, clock, signin: TEST_OPTIONS }),
      passkeyRoutes({ dataDir, clock, signin: TEST_OPTIONS, passkeys: { origins: [ORIGIN] } }),
      signinPage({ dataDir, clock }),
    ],
  });
  cookie = await launchCookie();
});

/** What the desktop shell does: open a launch link, keep the cookie it sets. */
async function launchCookie(): Promise<string> {
  const launch = new URL(app.launchUrl());
  const opened = await app.inject({
    method: 'GET',
    url: `/${launch.search}`,
    headers: { host: HOST },
  });
  expect(opened.statusCode).toBe(303);
  expect(opened.headers.location).toBe('/');
  return String(opened.headers['set-cookie']).split(';')[0] ?? '';
}
afterEach(async () => {
  await app.close();
  await world.close();
});

type Auth = 'secret' | 'page' | 'none';
function post(
  url: string,
  body: unknown,
  auth: Auth = 'page',
  headers: InjectOptions['headers'] = {},
) {
  return app.inject({
    method: 'POST',
    url,
    payload: body as Record<string, unknown>,
    headers: {
      host: HOST,
      ...(auth === 'secret' ? { authorization: `Bearer ${secret}` } : {}),
      ...(auth === 'page' ? { cookie, origin: ORIGIN } : {}),
      ...headers,
    },
  });
}

async function signInWithPassword(): Promise<{ token: string; sessionId: string }> {
  const response = await post('/v1/signin', { username: 'amara', password: PASSWORD });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

async function registerPasskey(
  authenticator = new SoftAuthenticator(ORIGIN),
): Promise<{ authenticator: SoftAuthenticator; credentialId: string }> {
  const { token } = await signInWithPassword();
  const options = await post('/v1/passkeys/register/options', {
    sessionToken: token,
    password: PASSWORD,
  });
  expect(options.statusCode, options.body).toBe(200);
  const response = authenticator.register(options.json<PublicKeyCredentialCreationOptionsJSON>());
  const verified = await post('/v1/passkeys/register/verify', response);
  expect(verified.statusCode, verified.body).toBe(200);
  return { authenticator, credentialId: response.id };
}

async function authenticationOptions(username?: string) {
  const response = await post(
    '/v1/passkeys/authenticate/options',
    username === undefined ? {} : { username },
  );
  expect(response.statusCode, response.body).toBe(200);
  return response.json<PublicKeyCredentialRequestOptionsJSON>();
}

const refusal = (code: keyof typeof PASSKEY_REFUSALS) => ({
  code,
  message: PASSKEY_REFUSALS[code].message,
});

describe('the page session: cookie and origin', () => {
  it('serves the page with a strict CSP, no framing or caching, to a page session only', async () => {
    await signInWithPassword();
    const page = await app.inject({ method: 'GET', url: '/', headers: { host: HOST, cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1] ?? '';
    expect(nonce).not.toBe('');
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/https?:|unsafe-inline|unsafe-eval/);
    expect(page.body).toContain(`<script nonce="${nonce}">`);
    expect(page.body).not.toMatch(/<(script|link|img)[^>]+(src|href)="(?!data:)/);
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['set-cookie']).toBeUndefined();
    // Who can sign in offline here, as suggestions, for the page session.
    expect(page.body).toContain('<option value="amara"></option>');
    const again = await app.inject({ method: 'GET', url: '/', headers: { host: HOST, cookie } });
    expect(/nonce-([^']+)/.exec(String(again.headers['content-security-policy']))?.[1]).not.toBe(
      nonce,
    );
  });

  it('gives an anonymous GET / no cookie and no usernames; a launch link works once', async () => {
    await signInWithPassword();
    const anonymous = await app.inject({ method: 'GET', url: '/', headers: { host: HOST } });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['set-cookie']).toBeUndefined();
    expect(anonymous.body).not.toContain('amara');
    expect(anonymous.body).not.toContain('<form');
    expect(anonymous.body).not.toContain('<script');
    expect(anonymous.headers['content-security-policy']).toContain("default-src 'none'");

    const launch = new URL(app.launchUrl());
    expect(launch.origin).toMatch(/^http:\/\/localhost:\d+$/);
    const first = await app.inject({
      method: 'GET',
      url: `/${launch.search}`,
      headers: { host: HOST },
    });
    expect(first.statusCode).toBe(303);
    expect(first.headers['set-cookie']).toMatch(
      /^lantern_ui=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/,
    );
    const fresh = String(first.headers['set-cookie']).split(';')[0] ?? '';
    expect(fresh).not.toBe(cookie);
    const replayed = await app.inject({
      method: 'GET',
      url: `/${launch.search}`,
      headers: { host: HOST },
    });
    expect(replayed.statusCode).toBe(403);
    expect(replayed.headers['set-cookie']).toBeUndefined();
    expect(replayed.body).toContain('already used');
    for (const search of ['?launch=forged', '?launch=', '?launch=a&launch=b']) {
      const refused = await app.inject({
        method: 'GET',
        url: `/${search}`,
        headers: { host: HOST },
      });
      expect(refused.statusCode, search).toBeGreaterThanOrEqual(400);
      expect(refused.statusCode, search).toBeLessThan(500);
      expect(refused.headers['set-cookie'], search).toBeUndefined();
    }
    // The cookie an anonymous page once handed out no longer exists: a made-up one is refused.
    const made = await post('/v1/signin/methods', { username: 'amara' }, 'none', {
      cookie: 'lantern_ui=' + 'A'.repeat(43),
      origin: ORIGIN,
    });
    expect(made.statusCode).toBe(401);
    const methods = await post('/v1/signin/methods', { username: 'amara' }, 'none', {
      cookie: fresh,
      origin: ORIGIN,
    });
    expect(methods.json()).toEqual({ secondFactor: false, passkey: false });
  });

  it('mints launch links only for the local secret, never for the page cookie', async () => {
    const withCookie = await post('/v1/ui/launch', {}, 'page');
    expect(withCookie.statusCode).toBe(401);
    expect((await post('/v1/ui/launch', {}, 'none')).statusCode).toBe(401);
    const minted = await post('/v1/ui/launch', {}, 'secret');
    expect(minted.statusCode).toBe(200);
    const { url } = minted.json<{ url: string }>();
    const opened = await app.inject({
      method: 'GET',
      url: `/${new URL(url).search}`,
      headers: { host: HOST },
    });
    expect(opened.statusCode).toBe(303);
  });

  it('refuses API calls without the cookie or the secret, and cookie calls from another origin', async () => {
    const url = '/v1/passkeys/authenticate/options';
    expect((await post(url, {}, 'none')).statusCode).toBe(401);
    expect(
      (await post(url, {}, 'none', { cookie: 'lantern_ui=forged', origin: ORIGIN })).statusCode,
    ).toBe(401);
    const noOrigin = await post(url, {}, 'none', { cookie });
    expect(noOrigin.statusCode).toBe(403);
    expect(noOrigin.json()).toMatchObject({ code: 'forbidden' });
    for (const origin of ['http://localhost:8080', 'http://evil.example', 'null']) {
      expect((await post(url, {}, 'none', { cookie, origin })).statusCode).toBe(403);
    }
    // A wrong secret is not rescued by a good cookie.
    const wrongSecret = await post(url, {}, 'page', { authorization: 'Bearer not-the-secret' });
    expect(wrongSecret.statusCode).toBe(401);
    // The page itself, and other local apps with the secret (no cookie, no Origin).
    expect((await post(url, {}, 'page')).statusCode).toBe(200);
    expect((await post(url, {}, 'secret')).statusCode).toBe(200);
  });

  it('answers under localhost:PORT (the WebAuthn RP id) but not under another host name', async () => {
    const page = await app.inject({ method: 'GET', url: '/', headers: { host: HOST, cookie } });
    expect(page.statusCode).toBe(200);
    const rebound = await app.inject({
      method: 'GET',
      url: '/',
      headers: { host: 'evil.example:7767' },
    });
    expect(rebound.statusCode).toBe(403);
    expect(rebound.json()).toMatchObject({ code: 'loopback_only' });
  });
});

describe('passkey registration', () => {
  it('needs the password again: a live session token and the page cookie alone add nothing', async () => {
    const url = '/v1/passkeys/register/options';
    const { token } = await signInWithPassword();
    const tokenOnly = await post(url, { sessionToken: token });
    expect(tokenOnly.statusCode).toBe(400);
    expect(tokenOnly.json()).toMatchObject({ code: 'invalid_request' });
    const failuresBefore = device.events('identity.user.login_failed').length;
    const wrong = await post(url, { sessionToken: token, password: 'not the password' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ code: 'bad_credentials' });
    // Counted towards the lockout like any wrong password.
    expect(device.events('identity.user.login_failed')).toHaveLength(failuresBefore + 1);
    // Another user's password does not unlock amara's registration.
    await world.user('bongani', 'bongani password 123');
    await post('/v1/signin', { username: 'bongani', password: 'bongani password 123' });
    const other = await post(url, { sessionToken: token, password: 'bongani password 123' });
    expect(other.statusCode).toBe(401);
    expect(device.count('passkeys')).toBe(0);
    const good = await post(url, { sessionToken: token, password: PASSWORD });
    expect(good.statusCode, good.body).toBe(200);
  });

  it('needs a live password session of this device', async () => {
    const url = '/v1/passkeys/register/options';
    expect((await post(url, { sessionToken: 'not.a.token', password: PASSWORD })).json()).toEqual(
      refusal('passkey_session_required'),
    );
    const { token, sessionId } = await signInWithPassword();
    expect((await post('/v1/signout', { sessionId })).statusCode).toBe(200);
    const ended = await post(url, { sessionToken: token, password: PASSWORD });
    expect(ended.statusCode).toBe(401);
    expect(ended.json()).toEqual(refusal('passkey_session_required'));
    expect(device.count('passkeys')).toBe(0);
  });

  it('stores a verified passkey sealed, reports it, and refuses replays, other origins and missing UV', async () => {
    const { token } = await signInWithPassword();
    const options = (
      await post('/v1/passkeys/register/options', { sessionToken: token, password: PASSWORD })
    ).json<PublicKeyCredentialCreationOptionsJSON>();
    expect(options.rp.id).toBe('localhost');
    expect(options.pubKeyCredParams).toEqual([{ type: 'public-key', alg: -7 }]);
    expect(options.authenticatorSelection).toMatchObject({
      residentKey: 'required',
      userVerification: 'required',
    });
    expect(Buffer.from(options.user.id, 'base64url').toString()).toBe(userId);

    const authenticator = new SoftAuthenticator(ORIGIN);
    const again = async () =>
      (
        await post('/v1/passkeys/register/options', { sessionToken: token, password: PASSWORD })
      ).json<PublicKeyCredentialCreationOptionsJSON>();
    const wrongOrigin = authenticator.register(await again(), { origin: 'http://localhost:9999' });
    expect((await post('/v1/passkeys/register/verify', wrongOrigin)).json()).toEqual(
      refusal('passkey_invalid'),
    );
    const noUv = authenticator.register(await again(), { userVerified: false });
    expect((await post('/v1/passkeys/register/verify', noUv)).json()).toEqual(
      refusal('user_verification_required'),
    );
    expect(device.count('passkeys')).toBe(0);

    const good = authenticator.register(options);
    const verified = await post('/v1/passkeys/register/verify', good);
    expect(verified.statusCode, verified.body).toBe(200);
    expect(verified.json()).toEqual({ ok: true, credentialId: good.id, userId });
    const replay = await post('/v1/passkeys/register/verify', good);
    expect(replay.json()).toEqual(refusal('passkey_challenge_invalid'));
    expect(device.count('passkeys')).toBe(1);
    expect(device.events('identity.user.mfa_enrolled')).toEqual([
      { userId, kind: 'webauthn', credentialId: good.id, deviceId: expect.any(String) },
    ]);
    // Sealed at rest: the COSE key's x coordinate is nowhere in the database file.
    const jwk = authenticator.credentials.get(good.id)?.privateKey.export({ format: 'jwk' });
    const x = Buffer.from(jwk?.x ?? '', 'base64url');
    expect(x.length).toBe(32);
    device.opened.store.db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(agentPaths(device.dataDir).database).includes(x)).toBe(false);
  });

  it('records a cancelled ceremony once, for the CA', async () => {
    const { token } = await signInWithPassword();
    const options = (
      await post('/v1/passkeys/register/options', { sessionToken: token, password: PASSWORD })
    ).json<PublicKeyCredentialCreationOptionsJSON>();
    const cancel = { challenge: options.challenge, reason: 'not_allowed' };
    expect(
      (await post('/v1/passkeys/register/cancel', { ...cancel, reason: 'bored' })).statusCode,
    ).toBe(400);
    expect((await post('/v1/passkeys/register/cancel', cancel)).statusCode).toBe(200);
    expect((await post('/v1/passkeys/register/cancel', cancel)).json()).toEqual(
      refusal('passkey_challenge_invalid'),
    );
    expect(device.events('identity.user.webauthn_registration_canceled')).toEqual([
      { userId, deviceId: expect.any(String), reason: 'not_allowed' },
    ]);
  });
});

describe('passkey sign-in, with the CA out of reach', () => {
  it('signs in offline with a verified assertion and mints a session token that verifies', async () => {
    const { authenticator, credentialId } = await registerPasskey();
    world.link.set('down');
    const options = await authenticationOptions();
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options.userVerification).toBe('required');
    const response = await post(
      '/v1/passkeys/authenticate/verify',
      authenticator.authenticate(options),
    );
    expect(response.statusCode, response.body).toBe(200);
    const answer = response.json<{ token: string; mode: string; username: string }>();
    expect(answer).toMatchObject({ ok: true, mode: 'offline', userId, username: 'amara' });
    const verified = await post('/v1/verify', { token: answer.token }, 'secret');
    expect(verified.json()).toMatchObject({
      ok: true,
      claims: { sub: userId, amr: ['hwk', 'mfa'] },
    });
    expect(device.events('identity.user.logged_in').at(-1)).toMatchObject({
      userId,
      offline: true,
      amr: ['hwk', 'mfa'],
    });
    const row = device.opened.store.db
      .prepare('SELECT sign_count AS n, last_used_at AS used FROM passkeys WHERE credential_id = ?')
      .get(credentialId);
    expect(row).toEqual({ n: 1, used: world.agentClock.now() });

    // A typed username narrows the ceremony to that user's passkeys.
    const named = await authenticationOptions('amara');
    expect(named.allowCredentials?.map((item) => item.id)).toEqual([credentialId]);
    expect(
      (await post('/v1/passkeys/authenticate/options', { username: 'nobody' })).json(),
    ).toEqual(refusal('passkey_unknown'));
  });

  it('refuses replayed and expired challenges, unknown passkeys and bad signatures', async () => {
    const { authenticator } = await registerPasskey();
    world.link.set('down');
    const verify = (body: unknown) => post('/v1/passkeys/authenticate/verify', body);

    const first = authenticator.authenticate(await authenticationOptions());
    expect((await verify(first)).statusCode).toBe(200);
    expect((await verify(first)).json()).toEqual(refusal('passkey_challenge_invalid'));

    const stale = await authenticationOptions();
    world.agentClock.advance(DEFAULT_PASSKEY_CONFIG.challengeTtlMs + 1);
    expect((await verify(authenticator.authenticate(stale))).json()).toEqual(
      refusal('passkey_challenge_invalid'),
    );

    const stranger = new SoftAuthenticator(ORIGIN);
    const options = await authenticationOptions();
    stranger.register({
      ...options,
      rp: { id: 'localhost', name: 'x' },
      user: { id: 'eA', name: 'x', displayName: 'x' },
      pubKeyCredParams: [],
    });
    expect((await verify(stranger.authenticate(options))).json()).toEqual(
      refusal('passkey_unknown'),
    );

    const corrupt = authenticator.authenticate(await authenticationOptions(), {
      corruptSignature: true,
    });
    expect((await verify(corrupt)).json()).toEqual(refusal('passkey_invalid'));
    const otherOrigin = authenticator.authenticate(await authenticationOptions(), {
      origin: 'http://localhost:9999',
    });
    expect((await verify(otherOrigin)).json()).toEqual(refusal('passkey_invalid'));
    expect((await verify({ id: 'x' })).statusCode).toBe(400);

    const failures = device.events('identity.user.login_failed');
    expect(failures.every((event) => event['method'] === 'passkey')).toBe(true);
    expect(failures.map((event) => event['reason'])).toEqual(Array(5).fill('passkey_failed'));
  });

  it('refuses a counter that went backwards and an assertion without user verification', async () => {
    const { authenticator } = await registerPasskey();
    world.link.set('down');
    const verify = (body: unknown) => post('/v1/passkeys/authenticate/verify', body);
    const ok = authenticator.authenticate(await authenticationOptions(), { counter: 5 });
    expect((await verify(ok)).statusCode).toBe(200);

    const cloned = authenticator.authenticate(await authenticationOptions(), { counter: 5 });
    const regressed = await verify(cloned);
    expect(regressed.statusCode).toBe(401);
    expect(regressed.json()).toEqual(refusal('passkey_counter_regressed'));
    const lower = authenticator.authenticate(await authenticationOptions(), { counter: 2 });
    expect((await verify(lower)).json()).toEqual(refusal('passkey_counter_regressed'));

    const noUv = authenticator.authenticate(await authenticationOptions(), {
      counter: 9,
      userVerified: false,
    });
    expect((await verify(noUv)).json()).toEqual(refusal('user_verification_required'));
    // Refused assertions count towards the lockout shared with passwords.
    expect(
      device.opened.store.db
        .prepare('SELECT failure_count AS n FROM lockout WHERE user_id = ?')
        .get(userId),
    ).toEqual({ n: 3 });
    const row = device.opened.store.db.prepare('SELECT sign_count AS n FROM passkeys').get();
    expect(row).toEqual({ n: 5 });
  });

  it('needs a grant that allows webauthn offline, like any offline sign-in', async () => {
    const { authenticator } = await registerPasskey();
    const policy = await world.ca.admin('PUT', `/v1/admin/tenants/${world.tenantId}/mfa-policy`, {
      roles: { learner: { required: [], offline: ['password'] } },
    });
    expect(policy.statusCode, policy.body).toBe(200);
    await signInWithPassword(); // the new grant replaces the one that allowed passkeys
    world.link.set('down');
    const refused = await post(
      '/v1/passkeys/authenticate/verify',
      authenticator.authenticate(await authenticationOptions()),
    );
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual({
      code: 'method_not_allowed',
      message: SIGNIN_REFUSALS.method_not_allowed.message,
    });
    expect(device.events('identity.user.login_failed').at(-1)).toMatchObject({
      userId,
      reason: 'method_not_allowed',
      method: 'passkey',
    });
  });
});
