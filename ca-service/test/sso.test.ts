import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from 'jose';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';
import { postAsDevice } from '../../test/support/device-requests.js';
import type { TestIdp } from '../../test/support/oidc-idp.js';
import { handoffForm, startTestIdp } from '../../test/support/oidc-idp.js';
import { runCli } from '@lantern/shared';
import { commands } from '../src/cli/commands.js';
import { handoffConfirmPage } from '../src/http/sso-handoff-page.js';
import { verifyIdToken } from '../src/sso/oidc-client.js';

const CALLBACK = 'http://ca.test/v1/sso/callback';
const CLIENT_A = { clientId: 'lantern-hillside', clientSecret: 'secret-a-not-real' };
const CLIENT_B = { clientId: 'lantern-riverside', clientSecret: 'secret-b-not-real' };

let idp: TestIdp;
let ca: TestCa;
let hillside: string;
let riverside: string;
let teacherId: string;

beforeAll(async () => {
  idp = await startTestIdp([
    { ...CLIENT_A, redirectUri: CALLBACK },
    { ...CLIENT_B, redirectUri: CALLBACK },
  ]);
  idp.accounts.set('sub-teacher', { email: 'n.okafor@hillside.example', emailVerified: true });
  idp.accounts.set('sub-unverified', { email: 'amina@hillside.example', emailVerified: false });
  idp.accounts.set('sub-stranger', { email: 'someone@elsewhere.example', emailVerified: true });
});
afterAll(async () => {
  await idp.close();
});

async function startCa(): Promise<void> {
  // The provider signs on the real clock; the CA's clock must agree with it.
  ca = await startTestCa({ now: Date.now() });
  hillside = await createTenant(ca, 'Hillside Primary');
  riverside = await createTenant(ca, 'Riverside Primary');
  const created = await ca.admin('POST', '/v1/admin/users', {
    tenant: hillside,
    username: 'n.okafor',
    role: 'teacher',
    password: 'correct horse battery staple',
    email: 'n.okafor@hillside.example',
  });
  expect(created.statusCode, created.body).toBe(201);
  teacherId = created.json<{ userId: string }>().userId;
  await createUser(ca, hillside, 'amina', 'correct horse battery staple');
}

/** A fresh CA per test, for the describes that talk to one (the ID token checks need none). */
function withCa(): void {
  beforeEach(startCa);
  afterEach(async () => {
    await ca.close();
  });
}

async function configure(
  tenant: string,
  client: typeof CLIENT_A,
  verifiedDomains: string[] = [],
): Promise<LightMyRequestResponse> {
  return ca.admin('POST', `/v1/admin/tenants/${tenant}/sso`, {
    provider: 'google',
    issuer: idp.issuer,
    ...client,
    verifiedDomains,
  });
}

async function start(tenant: string): Promise<URL> {
  const response = await ca.app.inject({ method: 'GET', url: `/v1/sso/${tenant}/start` });
  expect(response.statusCode, response.body).toBe(302);
  return new URL(String(response.headers.location));
}

const callback = (url: URL | string) =>
  ca.app.inject({ method: 'GET', url: typeof url === 'string' ? url : url.pathname + url.search });

async function metric(result: string, provider = 'google'): Promise<number> {
  const text = (await ca.app.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text
    .split('\n')
    .find((l) =>
      l.startsWith(`identity_sso_callbacks_total{provider="${provider}",result="${result}"}`),
    );
  return Number(line?.split(' ')[1] ?? 'NaN');
}

const events = async (type: string) =>
  (
    await ca.ctx.store.db
      .prepare('SELECT payload FROM events WHERE event_type = ? ORDER BY position')
      .all(type)
  ).map((row) => JSON.parse((row as { payload: string }).payload) as Record<string, unknown>);

describe('SSO callbacks that must fail', () => {
  withCa();
  beforeEach(async () => {
    expect((await configure(hillside, CLIENT_A, ['hillside.example'])).statusCode).toBe(200);
  });

  it('an unknown, forged or spent state is sso_state_invalid, and spends nothing', async () => {
    const url = await start(hillside);
    const back = await idp.authorize(url.toString(), 'sub-teacher');
    const forged = new URL(back);
    forged.searchParams.set('state', 'not-a-state-this-ca-made');
    expect((await callback(forged)).json()).toMatchObject({ code: 'sso_state_invalid' });
    expect((await callback('/v1/sso/callback?code=abc')).json()).toMatchObject({
      code: 'sso_state_invalid',
    });
    const ok = await callback(back);
    expect(ok.statusCode, ok.body).toBe(200);
    // The same callback again: the state was spent by the first.
    const replay = await callback(back);
    expect(replay.statusCode).toBe(400);
    expect(replay.json()).toMatchObject({ code: 'sso_state_invalid' });
    // No attempt found, so no tenant provider to name: the bounded label `unknown`.
    expect(await metric('state_invalid', 'unknown')).toBe(3);
    expect(await metric('success')).toBe(1);
  });

  it('a wrong PKCE verifier is refused by the provider: sso_code_rejected', async () => {
    const url = await start(hillside);
    const state = url.searchParams.get('state') ?? '';
    // The stored verifier replaced by another (sealed as the CA seals its own).
    await ca.ctx.store.db
      .prepare('UPDATE sso_attempts SET code_verifier = ? WHERE state = ?')
      .run(ca.ctx.secretBox.seal(Buffer.from('x'.repeat(43)), `sso-pkce:${state}`), state);
    const answer = await callback(await idp.authorize(url.toString(), 'sub-teacher'));
    expect(answer.statusCode).toBe(400);
    expect(answer.json()).toMatchObject({ code: 'sso_code_rejected' });
    expect(await events('identity.user.logged_in')).toHaveLength(0);
  });

  it('the authorization request always carries an S256 challenge, a state and a nonce', async () => {
    const url = await start(hillside);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Without the challenge the provider itself refuses: PKCE is not optional there either.
    const bare = new URL(url);
    bare.searchParams.delete('code_challenge');
    bare.searchParams.delete('code_challenge_method');
    const back = await idp.authorize(bare.toString(), 'sub-teacher');
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect((await callback(back)).json()).toMatchObject({ code: 'sso_denied' });
  });

  it('a replayed code (under a fresh state) is sso_code_rejected', async () => {
    const first = await idp.authorize((await start(hillside)).toString(), 'sub-teacher');
    expect((await callback(first)).statusCode).toBe(200);
    const second = new URL(await idp.authorize((await start(hillside)).toString(), 'sub-teacher'));
    second.searchParams.set('code', first.searchParams.get('code') ?? '');
    const answer = await callback(second);
    expect(answer.json()).toMatchObject({ code: 'sso_code_rejected' });
    expect(await metric('code_rejected')).toBe(1);
  });

  it('a nonce other than the one sent is sso_id_token_invalid', async () => {
    const url = await start(hillside);
    await ca.ctx.store.db
      .prepare('UPDATE sso_attempts SET nonce = ? WHERE state = ?')
      .run('another-nonce', url.searchParams.get('state'));
    const answer = await callback(await idp.authorize(url.toString(), 'sub-teacher'));
    expect(answer.statusCode).toBe(401);
    expect(answer.json()).toMatchObject({ code: 'sso_id_token_invalid' });
    expect(answer.json<{ message: string }>().message).toContain('nonce_mismatch');
    expect(await metric('id_token_invalid')).toBe(1);
  });

  it('an identity with no link and no verified email of a listed domain is sso_identity_unlinked', async () => {
    for (const subject of ['sub-unverified', 'sub-stranger']) {
      const answer = await callback(
        await idp.authorize((await start(hillside)).toString(), subject),
      );
      expect(answer.statusCode).toBe(403);
      expect(answer.json()).toMatchObject({ code: 'sso_identity_unlinked' });
    }
    expect(await events('identity.user.identity_linked')).toHaveLength(0);
    expect(await metric('identity_unlinked')).toBe(2);
  });

  it('admin-links only: a tenant listing no domains never links by email', async () => {
    expect((await configure(hillside, CLIENT_A, [])).statusCode).toBe(200);
    const answer = await callback(
      await idp.authorize((await start(hillside)).toString(), 'sub-teacher'),
    );
    expect(answer.json()).toMatchObject({ code: 'sso_identity_unlinked' });
  });

  it("other tenant's provider: a link in one tenant signs no one in at another, and a code of its client is refused", async () => {
    expect((await configure(riverside, CLIENT_B, ['hillside.example'])).statusCode).toBe(200);
    const linked = await callback(
      await idp.authorize((await start(hillside)).toString(), 'sub-teacher'),
    );
    expect(linked.statusCode, linked.body).toBe(200);
    // Same person, same provider, Riverside's sign-in: Riverside has no user of that email.
    const elsewhere = await callback(
      await idp.authorize((await start(riverside)).toString(), 'sub-teacher'),
    );
    expect(elsewhere.json()).toMatchObject({ code: 'sso_identity_unlinked' });
    // Hillside's code presented under Riverside's state: exchanged with Riverside's client.
    const hillsideBack = await idp.authorize((await start(hillside)).toString(), 'sub-teacher');
    const riversideBack = new URL(
      await idp.authorize((await start(riverside)).toString(), 'sub-teacher'),
    );
    riversideBack.searchParams.set('code', hillsideBack.searchParams.get('code') ?? '');
    expect((await callback(riversideBack)).json()).toMatchObject({ code: 'sso_code_rejected' });
  });

  it("a failure of the CA's own is counted as error, not as a user's refusal (it spends the SSO budget)", async () => {
    const back = await idp.authorize((await start(hillside)).toString(), 'sub-teacher');
    await ca.ctx.store.db.exec('DROP TABLE sso_identities');
    const answer = await callback(back);
    expect(answer.statusCode).toBe(500);
    expect(answer.json()).toMatchObject({ code: 'internal_error' });
    expect(await metric('error')).toBe(1);
    expect(await metric('account_refused')).toBe(0);
  });

  it('an unknown tenant, or one without a provider, is sso_not_configured', async () => {
    for (const tenant of ['no-such-school', riverside]) {
      const answer = await ca.app.inject({ method: 'GET', url: `/v1/sso/${tenant}/start` });
      expect(answer.statusCode).toBe(404);
      expect(answer.json()).toMatchObject({
        code: expect.stringMatching(/not_configured|not_found/),
      });
    }
  });
});

describe('ID token validation (jose against the key set)', () => {
  const now = Date.UTC(2026, 10, 23, 10, 0, 0);
  const expected = { issuer: 'https://idp.example', clientId: 'lantern', nonce: 'n-1', nowMs: now };
  let keys: ReturnType<typeof createLocalJWKSet>;
  let sign: (claims: Record<string, unknown>, alg?: string) => Promise<string>;
  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    const other = await generateKeyPair('RS256');
    keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1' }] });
    sign = (claims, kid = 'k1') =>
      new SignJWT({ nonce: 'n-1', ...claims })
        .setProtectedHeader({ alg: 'RS256', kid })
        .setIssuer(String(claims['iss'] ?? expected.issuer))
        .setAudience((claims['aud'] as string | string[]) ?? expected.clientId)
        .setSubject('sub-1')
        .setIssuedAt(Math.floor(now / 1000) - 10)
        .setExpirationTime(
          typeof claims['exp'] === 'number' ? claims['exp'] : Math.floor(now / 1000) + 600,
        )
        .sign(kid === 'other' ? other.privateKey : pair.privateKey);
  });
  const verdict = async (claims: Record<string, unknown>, kid?: string) =>
    verifyIdToken(await sign(claims, kid), keys, expected);

  it('refuses another issuer, another audience, a bad nonce, expiry, a foreign azp, a key not in the set', async () => {
    expect(await verdict({ iss: 'https://evil.example' })).toEqual({
      ok: false,
      reason: 'wrong_issuer',
    });
    expect(await verdict({ aud: 'someone-else' })).toEqual({ ok: false, reason: 'wrong_audience' });
    expect(await verdict({ nonce: 'n-2' })).toEqual({ ok: false, reason: 'nonce_mismatch' });
    expect(await verdict({ exp: Math.floor(now / 1000) - 120 })).toEqual({
      ok: false,
      reason: 'expired',
    });
    expect(await verdict({ aud: ['lantern', 'other'] })).toEqual({
      ok: false,
      reason: 'wrong_authorized_party',
    });
    expect(await verdict({ azp: 'other' })).toEqual({
      ok: false,
      reason: 'wrong_authorized_party',
    });
    expect(await verdict({}, 'other')).toMatchObject({ ok: false });
  });

  it('accepts a good token; email counts as verified only when the provider says so', async () => {
    expect(await verdict({ email: 'a@b.example', email_verified: true })).toEqual({
      ok: true,
      identity: { subject: 'sub-1', email: 'a@b.example', emailVerified: true },
    });
    expect(await verdict({ email: 'a@b.example' })).toMatchObject({
      ok: true,
      identity: { emailVerified: false },
    });
  });
});

describe('SSO sign-in', () => {
  withCa();
  it('links by verified domain once (AuthenticationIdentityLinked), then by (issuer, sub); answers like a password sign-in', async () => {
    expect((await configure(hillside, CLIENT_A, ['hillside.example'])).statusCode).toBe(200);
    const first = await callback(
      await idp.authorize((await start(hillside)).toString(), 'sub-teacher'),
    );
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({
      tokenType: 'Bearer',
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      userId: teacherId,
      tenantId: hillside,
    });
    expect(await events('identity.user.identity_linked')).toEqual([
      {
        userId: teacherId,
        provider: 'google',
        issuer: idp.issuer,
        subject: 'sub-teacher',
        linkedBy: 'verified_email',
      },
    ]);
    expect((await events('identity.user.logged_in')).at(-1)).toMatchObject({
      userId: teacherId,
      amr: ['sso'],
    });
    // The email changes at the provider; the link holds, and no second link is recorded.
    idp.accounts.set('sub-teacher', { email: 'changed@elsewhere.example', emailVerified: true });
    const again = await callback(
      await idp.authorize((await start(hillside)).toString(), 'sub-teacher'),
    );
    idp.accounts.set('sub-teacher', { email: 'n.okafor@hillside.example', emailVerified: true });
    expect(again.json()).toMatchObject({ userId: teacherId });
    expect(await events('identity.user.identity_linked')).toHaveLength(1);
    expect(await metric('success')).toBe(2);
    // The refresh token works like a password sign-in's.
    const refreshed = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: first.json<{ refreshToken: string }>().refreshToken },
    });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
  });

  it('admin pre-link (API): the secret stays sealed, the config replays from its event', async () => {
    const set = await configure(hillside, CLIENT_A);
    expect(set.json()).toEqual({
      tenantId: hillside,
      provider: 'google',
      issuer: idp.issuer,
      clientId: CLIENT_A.clientId,
      verifiedDomains: [],
      updatedAt: expect.any(String),
    });
    expect(set.body).not.toContain(CLIENT_A.clientSecret);
    const stored = JSON.stringify(await ca.ctx.store.db.prepare('SELECT * FROM events').all());
    expect(stored).not.toContain(CLIENT_A.clientSecret);
    expect(
      (
        (await ca.ctx.store.db.prepare('SELECT sealed FROM sso_client_secrets').get()) as {
          sealed: string;
        }
      ).sealed,
    ).toMatch(/^lsb1\./);
    const link = await ca.admin('POST', `/v1/admin/users/${teacherId}/sso-identities`, {
      subject: 'sub-unverified',
    });
    expect(link.statusCode, link.body).toBe(201);
    const answer = await callback(
      await idp.authorize((await start(hillside)).toString(), 'sub-unverified'),
    );
    expect(answer.json()).toMatchObject({ userId: teacherId });
    // Rebuilt from the events alone, the configuration and the link are the same.
    const before = await ca.ctx.store.db.prepare('SELECT * FROM tenant_sso_providers').all();
    await ca.ctx.store.rebuildProjections();
    expect(await ca.ctx.store.db.prepare('SELECT * FROM tenant_sso_providers').all()).toEqual(
      before,
    );
    expect(
      (
        (await ca.ctx.store.db.prepare('SELECT user_id FROM sso_identities').all()) as {
          user_id: string;
        }[]
      ).map((row) => row.user_id),
    ).toEqual([teacherId]);
    // Another tenant's admin key cannot link Hillside's user.
    const key = await ca.admin('POST', '/v1/admin/api-keys', {
      tenant: riverside,
      scopes: ['users:write'],
    });
    expect(key.statusCode, key.body).toBe(201);
    const foreign = await ca.admin(
      'POST',
      `/v1/admin/users/${teacherId}/sso-identities`,
      { subject: 'sub-stranger' },
      key.json<{ apiKey: string }>().apiKey,
    );
    expect(foreign.statusCode).toBe(404);
  });
});

describe('device hand-off', () => {
  withCa();
  it('pending, then only the device that started it redeems it, once, for a grant-bearing answer', async () => {
    expect((await configure(hillside, CLIENT_A, ['hillside.example'])).statusCode).toBe(200);
    const tablet = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, hillside));
    const other = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, hillside));
    const foreign = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, riverside));
    const refused = await postAsDevice(ca, foreign, `/v1/sso/${hillside}/handoffs`, '{}');
    expect(refused.json()).toMatchObject({ code: 'tenant_mismatch' });
    const noProof = await ca.app.inject({
      method: 'POST',
      url: `/v1/sso/${hillside}/handoffs`,
      payload: {},
    });
    expect(noProof.statusCode).toBe(401);

    const started = await postAsDevice(ca, tablet, `/v1/sso/${hillside}/handoffs`, '{}');
    expect(started.statusCode, started.body).toBe(201);
    const { handoffId, authorizationUrl, userCode } = started.json<{
      handoffId: string;
      authorizationUrl: string;
      userCode: string;
    }>();
    expect(userCode).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    const redeem = (device: typeof tablet) =>
      postAsDevice(ca, device, `/v1/sso/handoffs/${handoffId}`, '{}');
    expect((await redeem(tablet)).json()).toMatchObject({ code: 'sso_handoff_pending' });
    const landed = await callback(await idp.authorize(authorizationUrl, 'sub-teacher'));
    expect(landed.statusCode, landed.body).toBe(200);
    expect(landed.headers['content-type']).toContain('text/html');
    expect(landed.headers['content-security-policy']).toContain("default-src 'none'");
    expect(landed.body).toContain('n.okafor');
    expect(landed.body).toContain(tablet.deviceId);
    const { action, confirmToken } = handoffForm(landed.body);
    expect(action).toBe(`/v1/sso/handoffs/${handoffId}/confirm`);
    // Back from the provider is not enough: the device still waits for the code.
    expect((await redeem(tablet)).json()).toMatchObject({ code: 'sso_handoff_pending' });
    const confirm = (fields: Record<string, string>) =>
      ca.app.inject({
        method: 'POST',
        url: action,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams(fields).toString(),
      });
    // The form's refusals are pages a person reads; a wrong code gives the form back.
    const forged = await confirm({ confirmToken: 'A'.repeat(43), userCode });
    expect(forged.statusCode).toBe(404);
    expect(forged.headers['content-type']).toContain('text/html');
    expect(forged.body).not.toContain('<form');
    const wrong = await confirm({ confirmToken, userCode: 'BBBB-BBBB' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.body).toContain('4 tries left');
    expect(handoffForm(wrong.body)).toEqual({ action, confirmToken });
    expect((await redeem(tablet)).json()).toMatchObject({ code: 'sso_handoff_pending' });
    const done = await confirm({ confirmToken, userCode: ` ${userCode.toLowerCase()} ` });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.body).toContain('Go back to the device');
    expect((await confirm({ confirmToken, userCode })).statusCode).toBe(404);
    expect((await redeem(other)).json()).toMatchObject({ code: 'sso_handoff_invalid' });
    const answer = await redeem(tablet);
    expect(answer.statusCode, answer.body).toBe(200);
    expect(answer.json()).toMatchObject({
      userId: teacherId,
      offlineGrant: { methods: expect.arrayContaining(['password']) },
    });
    expect((await redeem(tablet)).json()).toMatchObject({ code: 'sso_handoff_invalid' });
  });

  it("a person sent an attacker device's hand-off link cannot sign that device in without its code", async () => {
    expect((await configure(hillside, CLIENT_A, ['hillside.example'])).statusCode).toBe(200);
    const attacker = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, hillside));
    const started = await postAsDevice(ca, attacker, `/v1/sso/${hillside}/handoffs`, '{}');
    const { handoffId, authorizationUrl } = started.json<{
      handoffId: string;
      authorizationUrl: string;
    }>();
    // The victim follows the link and signs in at the provider; the attacker keeps the code.
    const landed = await callback(await idp.authorize(authorizationUrl, 'sub-teacher'));
    const { action, confirmToken } = handoffForm(landed.body);
    expect(landed.body).toContain('If someone sent you this link, stop here.');
    for (let attempt = 1; attempt <= 5; attempt++) {
      const guess = await ca.app.inject({
        method: 'POST',
        url: action,
        payload: { confirmToken, userCode: 'CCCC-CCCC' },
      });
      expect(guess.json()).toMatchObject({
        code: 'sso_handoff_code_wrong',
        details: { triesLeft: 5 - attempt },
      });
    }
    // Five wrong codes drop the hand-off: the attacker's device never gets the victim's session.
    const redeemed = await postAsDevice(ca, attacker, `/v1/sso/handoffs/${handoffId}`, '{}');
    expect(redeemed.json()).toMatchObject({ code: 'sso_handoff_invalid' });
    expect(
      await ca.ctx.store.db
        .prepare('SELECT COUNT(*) AS n FROM sessions WHERE device_id = ?')
        .get(attacker.deviceId),
    ).toEqual({ n: 0 });
  });

  it('escapes names on the confirmation page', () => {
    const html = handoffConfirmPage({
      handoffId: 'h'.repeat(43),
      confirmToken: 't'.repeat(43),
      tenantName: '<script>alert(1)</script>',
      username: '"><img src=x>',
      deviceId: 'dev_x',
    });
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;');
  });
});

describe('lantern-ca tenant sso / user sso-link', () => {
  withCa();
  it('sets the provider with the secret from stdin, shows it without, and pre-links a user', async () => {
    const url = await ca.app.listen({ port: 0, host: '127.0.0.1' });
    const run = async (argv: string[], stdin = '') => {
      const stdout: string[] = [];
      const code = await runCli('lantern-ca', commands, [...argv, '--url', url, '--json'], {
        stdout: (text) => stdout.push(text),
        stderr: () => undefined,
        readStdin: async () => stdin,
        env: { LANTERN_API_KEY: ca.adminKey },
      });
      const text = stdout.join('');
      return { code, json: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
    };
    const noSecret = await run(['tenant', 'sso', 'set', hillside, '--provider', 'google']);
    expect(noSecret.code).toBe(2);
    const set = await run(
      [
        ...['tenant', 'sso', 'set', hillside, '--provider', 'google', '--issuer', idp.issuer],
        ...['--client-id', CLIENT_A.clientId, '--verified-domains', 'hillside.example'],
      ],
      `${CLIENT_A.clientSecret}\n`,
    );
    expect(set.code).toBe(0);
    expect(set.json).toMatchObject({ issuer: idp.issuer, verifiedDomains: ['hillside.example'] });
    const shown = await run(['tenant', 'sso', 'show', 'hillside-primary']);
    expect(shown.json).toMatchObject({ tenantId: hillside, clientId: CLIENT_A.clientId });
    expect(JSON.stringify(shown.json)).not.toContain(CLIENT_A.clientSecret);
    const link = await run(['user', 'sso-link', teacherId, '--subject', 'sub-stranger']);
    expect(link.json).toMatchObject({ userId: teacherId, linkedBy: 'admin' });
    // The secret from stdin is the one the token request uses: the sign-in goes through.
    const answer = await callback(
      await idp.authorize((await start(hillside)).toString(), 'sub-stranger'),
    );
    expect(answer.json()).toMatchObject({ userId: teacherId });
  });
});
