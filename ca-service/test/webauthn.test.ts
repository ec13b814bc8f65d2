import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
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
import { enrollTestDevice } from '../../test/support/device-keys.js';
import type { CeremonyTweaks } from '../../test/support/soft-authenticator.js';
import { SoftAuthenticator } from '../../test/support/soft-authenticator.js';
import { buildApp } from '../src/app.js';
import { verifyAccessToken } from '../src/auth/tokens.js';
import { webAuthnConfig } from '../src/mfa/webauthn-config.js';
import { adminRemovePasskey } from '../src/mfa/webauthn-registration.js';
import type { UserRow } from '../src/users/users.js';

/** startTestCa publishes http://ca.test: the default relying party is `localhost`. */
const ORIGIN = 'http://localhost';
const PASSWORD = 'correct horse battery';
const removal = { actor: { type: 'system' as const, id: 'other-instance' }, correlationId: 'race' };

let ca: TestCa;
let tenantId: string;
let learnerId: string;
let teacherId: string;
let authenticator: SoftAuthenticator;

beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  learnerId = await createUser(ca, tenantId, 'amina', PASSWORD, 'learner');
  teacherId = await createUser(ca, tenantId, 'tom', PASSWORD, 'teacher');
  authenticator = new SoftAuthenticator(ORIGIN);
});
afterEach(async () => ca.close());

function post(
  url: string,
  body: unknown,
  token?: string,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return ca.app.inject({
    method: 'POST',
    url,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers },
    payload: body as Record<string, unknown>,
  });
}

const passwordToken = async (username: string) =>
  (
    (await post('/v1/auth/login', { tenant: tenantId, username, password: PASSWORD })).json() as {
      accessToken: string;
    }
  ).accessToken;

const registrationOptions = async (token: string) => {
  const response = await post('/v1/mfa/webauthn/register/options', {}, token);
  expect(response.statusCode).toBe(200);
  return response.json() as PublicKeyCredentialCreationOptionsJSON;
};

async function register(
  token: string,
  tweaks: CeremonyTweaks = {},
  device = authenticator,
): Promise<LightMyRequestResponse> {
  const options = await registrationOptions(token);
  return post('/v1/mfa/webauthn/register/verify', device.register(options, tweaks), token);
}

async function registered(username: string, device = authenticator): Promise<string> {
  const response = await register(await passwordToken(username), {}, device);
  expect(response.statusCode).toBe(201);
  return (response.json() as { credentialId: string }).credentialId;
}

const loginOptions = async (username?: string, tenant = tenantId) =>
  (
    await post('/v1/auth/webauthn/options', {
      tenant,
      ...(username === undefined ? {} : { username }),
    })
  ).json() as PublicKeyCredentialRequestOptionsJSON;

async function passkeySignIn(
  username?: string,
  tweaks: CeremonyTweaks & { credentialId?: string } = {},
  extra: Record<string, unknown> = {},
  device = authenticator,
): Promise<LightMyRequestResponse> {
  const options = await loginOptions(username);
  return post('/v1/auth/webauthn/verify', { ...device.authenticate(options, tweaks), ...extra });
}

const codeOf = (response: LightMyRequestResponse) => (response.json() as { code?: string }).code;
const amrOf = async (response: LightMyRequestResponse) =>
  (await verifyAccessToken(ca.ctx, (response.json() as { accessToken: string }).accessToken)).amr;
const events = (eventType: string) => ca.ctx.store.read({ tenantId, eventType });
const failureCount = async (userId: string) =>
  ((await ca.ctx.store.db.prepare('SELECT * FROM users WHERE user_id = ?').get(userId)) as UserRow)
    .failure_count;
const credentialCount = async () =>
  (
    (await ca.ctx.store.db.prepare('SELECT COUNT(*) AS n FROM webauthn_credentials').get()) as {
      n: number;
    }
  ).n;

async function setPolicy(role: string, policy: Record<string, unknown>) {
  const response = await ca.admin('PUT', `/v1/admin/tenants/${tenantId}/mfa-policy`, {
    roles: { [role]: { required: [], offline: ['password', 'webauthn'], ...policy } },
  });
  expect(response.statusCode).toBe(200);
}

describe('relying party configuration', () => {
  it('defaults to rpId localhost on the public URL scheme and port', () => {
    expect(webAuthnConfig('http://127.0.0.1:8080')).toEqual({
      rpId: 'localhost',
      rpName: 'Lantern',
      origins: ['http://localhost:8080'],
    });
    expect(webAuthnConfig('https://id.school.example', { rpId: 'school.example' }).origins).toEqual(
      ['https://id.school.example'],
    );
    expect(
      webAuthnConfig('http://ca.test', { rpId: 'ca.test', origins: ['https://a.ca.test'] }),
    ).toMatchObject({ rpId: 'ca.test', origins: ['https://a.ca.test'] });
  });
});

describe('a configured relying party, over real HTTP', () => {
  it('uses the configured RP ID and origins and refuses the default ones', async () => {
    const app = await buildApp({
      context: ca.ctx,
      webauthn: { rpId: 'ca.test', rpName: 'Hillside ID', origins: ['https://id.ca.test'] },
    });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const call = async (path: string, body: unknown, token?: string) => {
        const response = await fetch(`${base}${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          },
          body: JSON.stringify(body),
        });
        return {
          status: response.status,
          body: (await response.json()) as Record<string, unknown>,
        };
      };
      const token = await passwordToken('amina');
      const options = await call('/v1/mfa/webauthn/register/options', {}, token);
      expect(options.body).toMatchObject({ rp: { id: 'ca.test', name: 'Hillside ID' } });
      const creation = options.body as unknown as PublicKeyCredentialCreationOptionsJSON;
      const local = await call(
        '/v1/mfa/webauthn/register/verify',
        authenticator.register(creation),
        token,
      );
      expect(local).toMatchObject({ status: 401, body: { code: 'webauthn_response_invalid' } });
      const again = (await call('/v1/mfa/webauthn/register/options', {}, token))
        .body as unknown as PublicKeyCredentialCreationOptionsJSON;
      const configured = await call(
        '/v1/mfa/webauthn/register/verify',
        new SoftAuthenticator('https://id.ca.test').register(again),
        token,
      );
      expect(configured.status).toBe(201);
    } finally {
      await app.close();
    }
  });
});

describe('passkey registration', () => {
  it('refuses a response from another origin, for another RP ID or with bent client data', async () => {
    const token = await passwordToken('amina');
    for (const tweaks of [
      { origin: 'http://evil.localhost' },
      { origin: 'https://localhost' },
      { rpId: 'evil.example' },
      { type: 'webauthn.get' },
      { userPresent: false },
    ] satisfies CeremonyTweaks[]) {
      const response = await register(token, tweaks);
      expect(response.statusCode).toBe(401);
      expect(codeOf(response)).toBe('webauthn_response_invalid');
    }
    expect(await credentialCount()).toBe(0);
    expect(await events('identity.user.mfa_enrolled')).toHaveLength(0);
  });

  it('refuses an unknown, replayed, expired or foreign challenge', async () => {
    const token = await passwordToken('amina');
    expect(codeOf(await register(token, { challenge: 'A'.repeat(43) }))).toBe(
      'webauthn_challenge_invalid',
    );
    // A challenge handed to amina cannot register a passkey for tom.
    const aminaOptions = await registrationOptions(token);
    const foreign = await post(
      '/v1/mfa/webauthn/register/verify',
      authenticator.register(aminaOptions),
      await passwordToken('tom'),
    );
    expect(codeOf(foreign)).toBe('webauthn_response_invalid');

    const options = await registrationOptions(token);
    const answer = authenticator.register(options);
    expect((await post('/v1/mfa/webauthn/register/verify', answer, token)).statusCode).toBe(201);
    const replay = await post('/v1/mfa/webauthn/register/verify', answer, token);
    expect(codeOf(replay)).toBe('webauthn_challenge_invalid');

    const tomToken = await passwordToken('tom');
    const late = await registrationOptions(tomToken);
    ca.clock.advance(121_000);
    const expired = await post(
      '/v1/mfa/webauthn/register/verify',
      authenticator.register(late),
      tomToken,
    );
    expect(codeOf(expired)).toBe('webauthn_challenge_invalid');
    expect(await events('identity.user.mfa_enrolled')).toHaveLength(1);
  });

  it('refuses a passkey without user verification when the policy requires it', async () => {
    const response = await register(await passwordToken('amina'), { userVerified: false });
    expect(codeOf(response)).toBe('webauthn_user_verification_required');
    expect(await credentialCount()).toBe(0);
  });

  it('needs a valid access token and a well-formed body', async () => {
    expect((await post('/v1/mfa/webauthn/register/options', {})).statusCode).toBe(401);
    const token = await passwordToken('amina');
    const options = await registrationOptions(token);
    const answer = authenticator.register(options);
    for (const bad of [
      {},
      { ...answer, response: { ...answer.response, clientDataJSON: 'not base64url!' } },
      {
        ...answer,
        response: { ...answer.response, clientDataJSON: Buffer.from('[]').toString('base64url') },
      },
      { ...answer, extra: 1 },
    ]) {
      const response = await post('/v1/mfa/webauthn/register/verify', bad, token);
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expect(response.statusCode).toBeLessThan(500);
    }
    expect(await credentialCount()).toBe(0);
  });

  it('stores the credential beside an mfa_enrolled event and lists it', async () => {
    const token = await passwordToken('amina');
    const options = await registrationOptions(token);
    expect(options).toMatchObject({
      rp: { id: 'localhost', name: 'Lantern' },
      user: { name: 'amina@hillside' },
      attestation: 'none',
      authenticatorSelection: { userVerification: 'required' },
      pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
    });
    const response = await post(
      '/v1/mfa/webauthn/register/verify',
      authenticator.register(options),
      token,
    );
    expect(response.statusCode).toBe(201);
    const { credentialId } = response.json() as { credentialId: string };
    expect((await events('identity.user.mfa_enrolled')).map((e) => e.payload)).toEqual([
      { userId: learnerId, kind: 'webauthn', credentialId },
    ]);
    const listed = await ca.app.inject({
      method: 'GET',
      url: '/v1/mfa/webauthn',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(listed.json()).toMatchObject({
      userId: learnerId,
      passkeys: [{ credentialId, deviceId: null, counter: 0, transports: ['internal'] }],
    });
    // The same authenticator is excluded next time, and a second registration of it refused.
    const again = await registrationOptions(await passkeyToken());
    expect(again.excludeCredentials).toEqual([
      { id: credentialId, type: 'public-key', transports: ['internal'] },
    ]);
  });

  it('adding a passkey once the user has a second factor needs a step-up', async () => {
    await registered('amina');
    const pwdOnly = await passwordToken('amina');
    const refused = await post('/v1/mfa/webauthn/register/options', {}, pwdOnly);
    expect(codeOf(refused)).toBe('step_up_required');
    const second = new SoftAuthenticator(ORIGIN);
    expect((await register(await passkeyToken(), {}, second)).statusCode).toBe(201);
    expect(await events('identity.user.mfa_enrolled')).toHaveLength(2);
  });
});

/** A passwordless passkey sign-in of amina (UV): its access token has `mfa`. */
async function passkeyToken(): Promise<string> {
  const response = await passkeySignIn('amina');
  expect(response.statusCode).toBe(200);
  return (response.json() as { accessToken: string }).accessToken;
}

describe('passkey sign-in', () => {
  it('refuses bent assertions, each counted towards the lockout', async () => {
    await registered('amina');
    const cases: [CeremonyTweaks, string][] = [
      [{ origin: 'http://evil.localhost' }, 'webauthn_response_invalid'],
      [{ rpId: 'evil.example' }, 'webauthn_response_invalid'],
      [{ corruptSignature: true }, 'webauthn_response_invalid'],
      [
        { tamperClientData: (json) => json.replace('"crossOrigin":false', '"crossOrigin":true') },
        'webauthn_response_invalid',
      ],
      [{ userVerified: false }, 'webauthn_user_verification_required'],
    ];
    for (const [index, [tweaks, code]] of cases.entries()) {
      const response = await passkeySignIn('amina', tweaks);
      expect(response.statusCode).toBe(401);
      expect(codeOf(response)).toBe(code);
      if (index < 4) expect(await failureCount(learnerId)).toBe(index + 1);
    }
    expect((await events('identity.user.login_failed')).map((e) => e.payload)).toContainEqual({
      userId: learnerId,
      reason: 'passkey_failed',
      offline: false,
      method: 'passkey',
      failureCount: 1,
    });
    // Five failures: locked, and the passkey is refused like the password.
    expect(await events('identity.user.locked')).toHaveLength(1);
    expect(codeOf(await passkeySignIn('amina'))).toBe('account_locked');
    expect(await events('identity.user.logged_in')).toHaveLength(1); // the password sign-in of registered()
  });

  it('shares the lockout counter with password failures', async () => {
    await registered('amina');
    for (let i = 0; i < 3; i += 1) {
      await post('/v1/auth/login', { tenant: tenantId, username: 'amina', password: 'wrong' });
    }
    expect(await failureCount(learnerId)).toBe(3);
    await passkeySignIn('amina', { corruptSignature: true });
    expect(await failureCount(learnerId)).toBe(4);
    await passkeySignIn('amina', { corruptSignature: true });
    expect(codeOf(await passkeySignIn('amina'))).toBe('account_locked');
  });

  it('refuses an unknown, replayed or expired challenge', async () => {
    await registered('amina');
    expect(codeOf(await passkeySignIn('amina', { challenge: 'B'.repeat(43) }))).toBe(
      'webauthn_challenge_invalid',
    );
    const options = await loginOptions('amina');
    const answer = authenticator.authenticate(options);
    expect((await post('/v1/auth/webauthn/verify', answer)).statusCode).toBe(200);
    expect(codeOf(await post('/v1/auth/webauthn/verify', answer))).toBe(
      'webauthn_challenge_invalid',
    );
    const late = await loginOptions('amina');
    ca.clock.advance(121_000);
    expect(codeOf(await post('/v1/auth/webauthn/verify', authenticator.authenticate(late)))).toBe(
      'webauthn_challenge_invalid',
    );
    // Options for an unknown tenant look the same but lead nowhere.
    const nowhere = await loginOptions('amina', 'nowhere');
    expect(nowhere.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(
      codeOf(await post('/v1/auth/webauthn/verify', authenticator.authenticate(nowhere))),
    ).toBe('webauthn_challenge_invalid');
  });

  it('refuses a counter that does not move past the stored one', async () => {
    await registered('amina');
    expect((await passkeySignIn('amina', { counter: 5 })).statusCode).toBe(200);
    for (const counter of [5, 4, 0]) {
      const response = await passkeySignIn('amina', { counter });
      expect(codeOf(response)).toBe('webauthn_counter_regressed');
    }
    expect(await failureCount(learnerId)).toBe(3);
    expect(ca.logLines.join('')).toContain('login.webauthn.counter_regressed');
    expect((await passkeySignIn('amina', { counter: 6 })).statusCode).toBe(200);
  });

  it('refuses the credential of another user or of another tenant', async () => {
    await registered('amina');
    const tomAuthenticator = new SoftAuthenticator(ORIGIN);
    const tomCredential = await registered('tom', tomAuthenticator);
    const asAmina = await passkeySignIn('amina', {}, {}, tomAuthenticator);
    expect(codeOf(asAmina)).toBe('webauthn_credential_unknown');
    expect(tomCredential).not.toBe('');

    const otherTenant = await createTenant(ca, 'Riverside');
    await createUser(ca, otherTenant, 'amina', PASSWORD);
    const options = await loginOptions(undefined, otherTenant);
    const foreign = await post('/v1/auth/webauthn/verify', authenticator.authenticate(options));
    expect(codeOf(foreign)).toBe('webauthn_credential_unknown');
    // No counter moved for the refused attempts: tom's passkey still signs tom in.
    expect((await passkeySignIn('tom', {}, {}, tomAuthenticator)).statusCode).toBe(200);
  });

  it('signs in without a password and answers like /v1/auth/login', async () => {
    await registered('amina');
    const options = await loginOptions('amina');
    expect(options).toMatchObject({ rpId: 'localhost', userVerification: 'required' });
    expect(options.allowCredentials).toHaveLength(1);
    const discoverable = await loginOptions();
    expect(discoverable.allowCredentials).toBeUndefined();
    const response = await post(
      '/v1/auth/webauthn/verify',
      authenticator.authenticate(discoverable),
    );
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      tokenType: 'Bearer',
      userId: learnerId,
      tenantId,
      refreshToken: expect.any(String),
      sessionId: expect.stringMatching(/^ses_/),
    });
    expect(await amrOf(response)).toEqual(['hwk', 'user', 'mfa']);
    const refreshed = await post('/v1/auth/refresh', {
      refreshToken: (response.json() as { refreshToken: string }).refreshToken,
    });
    expect(refreshed.statusCode).toBe(200);
    expect((await events('identity.user.logged_in')).at(-1)?.payload).toMatchObject({
      userId: learnerId,
      amr: ['hwk', 'user', 'mfa'],
    });
  });

  it('gives an offline grant that allows webauthn when called with a device proof', async () => {
    await registered('amina');
    const device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    const body = JSON.stringify(authenticator.authenticate(await loginOptions('amina')));
    const response = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/webauthn/verify',
      headers: {
        'content-type': 'application/json',
        'lantern-device-proof': device.proof(
          'POST',
          '/v1/auth/webauthn/verify',
          body,
          Math.floor(ca.clock.now() / 1000),
        ),
      },
      payload: body,
    });
    expect(response.json()).toMatchObject({
      offlineGrant: { methods: ['password', 'webauthn'] },
    });
  });

  it('needs the password too where the policy makes passkeys a second factor', async () => {
    await registered('amina');
    await setPolicy('learner', { webauthn: { login: 'second_factor' } });
    expect(codeOf(await passkeySignIn('amina'))).toBe('webauthn_password_required');
    expect(codeOf(await passkeySignIn('amina', {}, { password: 'wrong' }))).toBe(
      'invalid_credentials',
    );
    expect(await failureCount(learnerId)).toBe(1);
    const both = await passkeySignIn('amina', {}, { password: PASSWORD });
    expect(both.statusCode).toBe(200);
    expect(await amrOf(both)).toEqual(['pwd', 'hwk', 'user', 'mfa']);
  });

  it('refuses a passkey removed while the password was checked: unknown, not a regressed counter', async () => {
    const credentialId = await registered('amina');
    await setPolicy('learner', { webauthn: { login: 'second_factor' } });
    const { passwords } = ca.ctx;
    const verify = passwords.verify.bind(passwords);
    passwords.verify = async (password, stored) => {
      passwords.verify = verify;
      const verdict = await verify(password, stored);
      await adminRemovePasskey(ca.ctx, learnerId, tenantId, credentialId, removal);
      return verdict;
    };
    const response = await passkeySignIn('amina', {}, { password: PASSWORD });
    expect(codeOf(response)).toBe('webauthn_credential_unknown');
    expect(await failureCount(learnerId)).toBe(0);
    expect(ca.logLines.join('')).not.toContain('login.webauthn.counter_regressed');
    expect(await events('identity.user.logged_in')).toHaveLength(1); // registered()'s password sign-in
  });

  it('refuses a passkey another instance removed just before the sign-in was recorded', async () => {
    const credentialId = await registered('amina');
    // The session's id is drawn after every check and just before the recording transaction.
    const { ids } = ca.ctx;
    const next = ids.next.bind(ids);
    // Started here, the removal's transaction takes the store's turn before the recording one.
    let removing: Promise<unknown> = Promise.resolve();
    ids.next = (prefix) => {
      if (prefix === 'ses') {
        ids.next = next;
        removing = adminRemovePasskey(ca.ctx, learnerId, tenantId, credentialId, removal);
      }
      return next(prefix);
    };
    const response = await passkeySignIn('amina');
    await removing;
    expect(codeOf(response)).toBe('webauthn_credential_unknown');
    expect(await events('identity.user.logged_in')).toHaveLength(1);
    const sessions = (await ca.ctx.store.db
      .prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ?')
      .get(learnerId)) as { n: number };
    expect(sessions.n).toBe(1);
    const scrape = await ca.app.inject({ method: 'GET', url: '/metrics' });
    expect(scrape.body).toContain(
      'identity_login_failures_total{method="passkey",reason="unknown_account"} 1',
    );
  });

  it('takes presence only where the policy prefers verification, but that is no step-up', async () => {
    await setPolicy('learner', { webauthn: { userVerification: 'preferred' } });
    await registered('amina');
    const presenceOnly = await passkeySignIn('amina', { userVerified: false });
    expect(presenceOnly.statusCode).toBe(200);
    expect(await amrOf(presenceOnly)).toEqual(['hwk', 'user']);
    const token = (presenceOnly.json() as { accessToken: string }).accessToken;
    expect(codeOf(await post('/v1/mfa/webauthn/register/options', {}, token))).toBe(
      'step_up_required',
    );
  });

  it('a password sign-in of a role that requires a second factor asks for the passkey', async () => {
    await registered('tom');
    const response = await post('/v1/auth/login', {
      tenant: tenantId,
      username: 'tom',
      password: PASSWORD,
    });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ code: 'mfa_required', methods: ['webauthn'] });
    expect(await failureCount(teacherId)).toBe(0);
    expect((await passkeySignIn('tom')).statusCode).toBe(200);
  });
});

describe('admin view of passkeys', () => {
  it('lists and removes a user passkey, tenant-isolated', async () => {
    const credentialId = await registered('amina');
    const otherTenant = await createTenant(ca, 'Riverside');
    const otherKey = (
      (
        await ca.admin('POST', '/v1/admin/api-keys', {
          tenant: otherTenant,
          scopes: ['users:read', 'users:write'],
        })
      ).json() as { apiKey: string }
    ).apiKey;
    const url = `/v1/admin/users/${learnerId}/mfa`;
    expect(codeOf(await ca.admin('GET', url, undefined, otherKey))).toBe('user_not_found');
    expect(
      codeOf(await ca.admin('DELETE', `${url}/webauthn/${credentialId}`, undefined, otherKey)),
    ).toBe('user_not_found');
    expect((await ca.admin('GET', url)).json()).toMatchObject({
      userId: learnerId,
      totp: 'none',
      passkeys: [{ credentialId, deviceId: null, userVerified: true }],
    });
    expect(codeOf(await ca.admin('DELETE', `${url}/webauthn/AAAA`))).toBe(
      'webauthn_credential_not_found',
    );
    const removed = await ca.admin('DELETE', `${url}/webauthn/${credentialId}`);
    expect(removed.statusCode).toBe(200);
    expect((await events('identity.user.mfa_removed')).map((e) => e.payload)).toEqual([
      { userId: learnerId, kind: 'webauthn', reason: 'admin_reset', credentialId },
    ]);
    expect((await ca.admin('GET', url)).json()).toMatchObject({ passkeys: [] });
    expect(codeOf(await passkeySignIn('amina'))).toBe('webauthn_credential_unknown');
  });

  it('deletes the public keys and the list when the user is erased', async () => {
    await registered('amina');
    expect(await credentialCount()).toBe(1);
    expect((await ca.admin('POST', `/v1/admin/users/${learnerId}/erase`, {})).statusCode).toBe(200);
    expect(await credentialCount()).toBe(0);
    expect(
      (await ca.ctx.store.db.prepare('SELECT COUNT(*) AS n FROM user_passkeys').get()) as {
        n: number;
      },
    ).toEqual({ n: 0 });
    expect(codeOf(await passkeySignIn('amina'))).toBe('webauthn_credential_unknown');
  });

  it('rebuilds the passkey list from the events', async () => {
    const credentialId = await registered('amina');
    await ca.ctx.store.rebuildProjections();
    expect((await ca.admin('GET', `/v1/admin/users/${learnerId}/mfa`)).json()).toMatchObject({
      passkeys: [{ credentialId }],
    });
  });
});

describe('MFA policy with webauthn', () => {
  it('loads a policy stored before passkeys existed, without widening its offline list', async () => {
    const old = { required: ['totp'], offline: ['password', 'totp'], stepUp: false };
    await ca.ctx.store.db
      .prepare('INSERT INTO tenant_mfa_policies (tenant_id, policy, updated_at) VALUES (?, ?, ?)')
      .run(
        tenantId,
        JSON.stringify({ learner: old, teacher: old, admin: { ...old, stepUp: true } }),
        new Date(ca.clock.now()).toISOString(),
      );
    const view = (await ca.admin('GET', `/v1/admin/tenants/${tenantId}/mfa-policy`)).json() as {
      roles: Record<string, unknown>;
    };
    expect(view.roles['learner']).toEqual({
      ...old,
      webauthn: { login: 'passwordless', userVerification: 'required' },
    });
    const device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    const body = JSON.stringify({ tenant: tenantId, username: 'amina', password: PASSWORD });
    const login = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
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
    expect(login.json()).toMatchObject({ offlineGrant: { methods: ['password'] } });
  });

  it('sets and validates the webauthn settings of a role', async () => {
    await setPolicy('teacher', { webauthn: { login: 'second_factor' } });
    expect(
      (await ca.admin('GET', `/v1/admin/tenants/${tenantId}/mfa-policy`)).json(),
    ).toMatchObject({
      roles: {
        teacher: {
          offline: ['password', 'webauthn'],
          webauthn: { login: 'second_factor', userVerification: 'required' },
        },
      },
    });
    for (const webauthn of [{ login: 'never' }, { userVerification: 'discouraged' }, { x: 1 }]) {
      const response = await ca.admin('PUT', `/v1/admin/tenants/${tenantId}/mfa-policy`, {
        roles: { learner: { required: [], offline: ['password'], webauthn } },
      });
      expect(response.statusCode).toBe(400);
    }
    expect(await events('identity.tenant.mfa_policy_set')).toHaveLength(1);
  });

  it('leaves webauthn out of the grant where the policy does not allow it offline', async () => {
    await setPolicy('learner', { offline: ['password'] });
    const device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    const body = JSON.stringify({ tenant: tenantId, username: 'amina', password: PASSWORD });
    const login = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
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
    expect(login.json()).toMatchObject({ offlineGrant: { methods: ['password'] } });
  });
});

describe('TOTP management once a passkey is the second factor', () => {
  const totpStatuses = async () =>
    (
      (await ca.ctx.store.db
        .prepare('SELECT status FROM totp_credentials WHERE user_id = ? ORDER BY status')
        .all(learnerId)) as { status: string }[]
    ).map((row) => row.status);
  const removeTotp = (token: string) =>
    ca.app.inject({
      method: 'DELETE',
      url: '/v1/mfa/totp',
      headers: { authorization: `Bearer ${token}` },
    });

  it('refuses a password-only token to enrol, replace or remove TOTP; a UV passkey sign-in may', async () => {
    await registered('amina');
    const pwdOnly = await passwordToken('amina');
    expect((await verifyAccessToken(ca.ctx, pwdOnly)).amr).toEqual(['pwd']);
    const refused = await post('/v1/mfa/totp/enroll', {}, pwdOnly);
    expect(refused.statusCode).toBe(403);
    expect(codeOf(refused)).toBe('step_up_required');
    expect(await totpStatuses()).toEqual([]);

    const stepped = await passkeyToken();
    expect((await verifyAccessToken(ca.ctx, stepped)).amr).toContain('mfa');
    const enrolled = await post('/v1/mfa/totp/enroll', {}, stepped);
    expect(enrolled.statusCode, enrolled.body).toBe(201);
    const { secret } = enrolled.json() as { secret: string };
    const code = totpAt(
      { secret: base32Decode(secret), algorithm: 'SHA1', digits: 6, period: 30 },
      Math.floor(ca.clock.now() / 1000),
    );
    expect((await post('/v1/mfa/totp/confirm', { code }, stepped)).statusCode).toBe(200);
    expect(await totpStatuses()).toEqual(['active']);

    const replace = await post('/v1/mfa/totp/enroll', {}, pwdOnly);
    expect(codeOf(replace)).toBe('step_up_required');
    expect(codeOf(await removeTotp(pwdOnly))).toBe('step_up_required');
    expect(await totpStatuses()).toEqual(['active']);

    expect((await post('/v1/mfa/totp/enroll', {}, stepped)).statusCode).toBe(201);
    expect(await totpStatuses()).toEqual(['active', 'pending']);
    expect((await removeTotp(stepped)).statusCode).toBe(200);
  });
});
