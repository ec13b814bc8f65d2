import type { JwtClaims } from '@lantern/shared';
import { createJwtVerifier, importJwks, runCli, signJwt } from '@lantern/shared';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';
import { commands } from '../src/cli/commands.js';

let ca: TestCa;
let tenantId: string;
let userId: string;
const PASSWORD = 'correct horse battery';

beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  userId = await createUser(ca, tenantId, 'amina', PASSWORD);
});
afterEach(async () => ca.close());

const now = () => Math.floor(ca.clock.now() / 1000);

function login(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return ca.app.inject({ method: 'POST', url: '/v1/auth/login', payload: body, headers });
}

function verifier() {
  return createJwtVerifier({
    keys: importJwks(ca.ctx.tokenKeys.jwks()),
    issuer: 'http://ca.test',
    audience: 'lantern',
    typ: 'at+jwt',
  });
}

describe('login', () => {
  it('signs in with the right password and returns verifiable tokens', async () => {
    const response = await login({ tenant: 'hillside', username: 'amina', password: PASSWORD });
    expect(response.statusCode).toBe(200);
    const body = response.json() as {
      accessToken: string;
      refreshToken: string;
      sessionId: string;
      expiresIn: number;
      offlineGrant?: unknown;
    };
    expect(body.expiresIn).toBe(900);
    expect(body.refreshToken).toMatch(/^lrt_/);
    expect(body.offlineGrant).toBeUndefined();
    const verdict = verifier().verify(body.accessToken, now());
    expect(verdict).toMatchObject({
      ok: true,
      claims: { sub: userId, sid: body.sessionId, tenant: tenantId, amr: ['pwd'] },
    });
    expect(verdict.ok && verdict.header.kid).toBe(ca.ctx.tokenKeys.activeKid);
    const types = await ca.ctx.store.read({ tenantId, eventType: 'identity.user.logged_in' });
    expect(types).toHaveLength(1);
  });

  it('answers a wrong password and an unknown user identically, in the same timing class', async () => {
    const timed = async (body: Record<string, unknown>) => {
      const started = performance.now();
      const response = await login(body);
      return { response, ms: performance.now() - started };
    };
    const wrong = await timed({ tenant: tenantId, username: 'amina', password: 'nope nope nope' });
    const unknown = await timed({
      tenant: tenantId,
      username: 'nobody',
      password: 'nope nope nope',
    });
    const unknownTenant = await timed({
      tenant: 'nowhere',
      username: 'amina',
      password: 'nope nope nope',
    });
    for (const { response } of [wrong, unknown, unknownTenant]) {
      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({ code: 'invalid_credentials', message: expect.any(String) });
    }
    expect(wrong.response.body).toBe(unknown.response.body);
    // Both paths run one full KDF: neither is an order of magnitude faster than the other.
    expect(unknown.ms).toBeGreaterThan(wrong.ms / 5);
    expect(wrong.ms).toBeGreaterThan(unknown.ms / 5);
  });

  it('locks after 5 failures in the window, then an admin unlock lets the user in', async () => {
    for (let i = 0; i < 5; i++) {
      expect(
        (await login({ tenant: tenantId, username: 'amina', password: 'wrong password' }))
          .statusCode,
      ).toBe(401);
    }
    // Issue 15: the right password on a locked account answers like an unknown account, so
    // neither the lock nor the account's existence leaks; the lock still holds.
    const locked = await login({ tenant: tenantId, username: 'amina', password: PASSWORD });
    const unknown = await login({ tenant: tenantId, username: 'nobody', password: PASSWORD });
    expect(locked.statusCode).toBe(401);
    expect(locked.body).toBe(unknown.body);
    expect(await ca.ctx.store.read({ eventType: 'identity.user.locked' })).toHaveLength(1);
    expect((await ca.admin('POST', `/v1/admin/users/${userId}/unlock`, {})).statusCode).toBe(200);
    expect(
      (await login({ tenant: tenantId, username: 'amina', password: PASSWORD })).statusCode,
    ).toBe(200);
  });

  it('unlocks by itself when the lock period ends, and failures outside the window do not add up', async () => {
    for (let i = 0; i < 4; i++)
      await login({ tenant: tenantId, username: 'amina', password: 'wrong password' });
    ca.clock.advance(16 * 60_000);
    await login({ tenant: tenantId, username: 'amina', password: 'wrong password' });
    expect(
      (await login({ tenant: tenantId, username: 'amina', password: PASSWORD })).statusCode,
    ).toBe(200);
  });

  it('refuses a suspended user', async () => {
    await ca.admin('POST', `/v1/admin/users/${userId}/suspend`, { reason: 'left' });
    const response = await login({ tenant: tenantId, username: 'amina', password: PASSWORD });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ code: 'account_suspended' });
  });

  it.each([
    ['a missing password', { tenant: 't', username: 'u' }],
    ['an extra field', { tenant: 't', username: 'u', password: 'p', admin: true }],
    ['an oversized password', { tenant: 't', username: 'u', password: 'x'.repeat(2000) }],
  ])('refuses %s with invalid_request and writes nothing', async (_label, body) => {
    const before = await ca.eventCount();
    const response = await login(body);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'invalid_request' });
    expect(await ca.eventCount()).toBe(before);
  });
});

describe('the project verifier refuses forged and unfit access tokens', () => {
  const { privateKey: strangerKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const base = (): JwtClaims => ({
    iss: 'http://ca.test',
    aud: 'lantern',
    sub: userId,
    iat: now(),
    exp: now() + 600,
  });
  const ours = (claims: JwtClaims) => ca.ctx.tokenKeys.sign(claims, { typ: 'at+jwt' });
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it.each<[string, () => string, string]>([
    ['expired', () => ours({ ...base(), iat: now() - 7200, exp: now() - 3600 }), 'expired'],
    ['not yet valid', () => ours({ ...base(), nbf: now() + 3600 }), 'not_yet_valid'],
    ['wrong audience', () => ours({ ...base(), aud: 'another-service' }), 'wrong_audience'],
    ['wrong issuer', () => ours({ ...base(), iss: 'https://evil.example' }), 'wrong_issuer'],
    [
      'alg none',
      () =>
        `${b64({ alg: 'none', typ: 'at+jwt', kid: ca.ctx.tokenKeys.activeKid })}.${b64(base())}.`,
      'malformed',
    ],
    [
      'HS256 keyed with the public key',
      () => {
        const header = b64({ alg: 'HS256', typ: 'at+jwt', kid: ca.ctx.tokenKeys.activeKid });
        const input = `${header}.${b64(base())}`;
        const secret = JSON.stringify(ca.ctx.tokenKeys.jwks().keys[0]);
        return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      },
      'alg_not_allowed',
    ],
    [
      'unknown kid',
      () => signJwt(base(), { typ: 'at+jwt', kid: 'not-a-published-key' }, strangerKey),
      'unknown_kid',
    ],
    [
      'a published kid but another key',
      () => signJwt(base(), { typ: 'at+jwt', kid: ca.ctx.tokenKeys.activeKid }, strangerKey),
      'bad_signature',
    ],
  ])('%s', (_label, token, reason) => {
    expect(verifier().verify(token(), now())).toMatchObject({ ok: false, reason });
  });
});

describe('refresh', () => {
  async function signedIn() {
    const response = await login({ tenant: tenantId, username: 'amina', password: PASSWORD });
    return response.json() as { refreshToken: string; sessionId: string };
  }
  const refresh = (refreshToken: string) =>
    ca.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });

  it('rotates: the new token works, the old one no longer does', async () => {
    const first = await signedIn();
    const rotated = await refresh(first.refreshToken);
    expect(rotated.statusCode).toBe(200);
    const second = rotated.json() as { refreshToken: string; accessToken: string };
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(verifier().verify(second.accessToken, now()).ok).toBe(true);
    expect((await refresh(second.refreshToken)).statusCode).toBe(200);
  });

  it('reuse of a rotated token revokes the whole family and its session', async () => {
    const first = await signedIn();
    const second = (await refresh(first.refreshToken)).json() as { refreshToken: string };
    const reuse = await refresh(first.refreshToken);
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json()).toMatchObject({ code: 'refresh_token_reused' });
    expect((await refresh(second.refreshToken)).json()).toMatchObject({
      code: 'refresh_token_invalid',
    });
    const [revoked] = await ca.ctx.store.read({ eventType: 'identity.session.revoked' });
    expect(revoked?.payload).toMatchObject({
      sessionId: first.sessionId,
      reason: 'rotation_reuse',
    });
  });

  it('logout ends the session', async () => {
    const first = await signedIn();
    const out = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      payload: { refreshToken: first.refreshToken },
    });
    expect(out.statusCode).toBe(204);
    expect((await refresh(first.refreshToken)).json()).toMatchObject({
      code: 'refresh_token_invalid',
    });
  });

  it('refuses garbage with refresh_token_invalid', async () => {
    expect((await refresh('lrt_nope')).json()).toMatchObject({ code: 'refresh_token_invalid' });
  });
});

describe('device-bound login', () => {
  it('returns an offline grant bound to the device key, within the certificate lifetime', async () => {
    const device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    const body = JSON.stringify({ tenant: tenantId, username: 'amina', password: PASSWORD });
    const response = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: {
        'content-type': 'application/json',
        'lantern-device-proof': device.proof('POST', '/v1/auth/login', body, now()),
      },
      payload: body,
    });
    expect(response.statusCode).toBe(200);
    const result = response.json() as {
      accessToken: string;
      refreshToken: string;
      offlineGrant: { grantId: string; offlineUntil: string; token: string; methods: string[] };
    };
    expect(result.offlineGrant.methods).toEqual(['password', 'webauthn']);
    const grant = createJwtVerifier({
      keys: importJwks(ca.ctx.tokenKeys.jwks()),
      issuer: 'http://ca.test',
      audience: device.deviceId,
      typ: 'lantern-offline-grant+jwt',
    }).verify(result.offlineGrant.token, now());
    expect(grant).toMatchObject({
      ok: true,
      claims: { sub: userId, grt: result.offlineGrant.grantId, username: 'amina' },
    });
    expect(Date.parse(result.offlineGrant.offlineUntil)).toBe(ca.clock.now() + 14 * 86_400_000);
    const access = verifier().verify(result.accessToken, now());
    expect(access.ok && (access.claims['cnf'] as { jkt: string }).jkt).toMatch(
      /^[A-Za-z0-9_-]{43}$/,
    );

    const unproven = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken: result.refreshToken },
    });
    expect(unproven.json()).toMatchObject({ code: 'device_proof_invalid' });
  });
});

describe('token key rotation', () => {
  it('lantern-ca keys list, revoke and replace over HTTP, with usage errors first', async () => {
    const address = await ca.app.listen({ port: 0, host: '127.0.0.1' });
    const out: string[] = [];
    // A kid may start with '-' (base64url), so it goes after '--', options before it.
    const run = (...argv: string[]) => {
      const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
      const args = [...argv.slice(0, end), '--url', address, ...argv.slice(end)];
      return runCli('lantern-ca', commands, args, {
        stdout: (text) => out.push(text),
        stderr: (text) => out.push(text),
        readStdin: async () => '',
        env: { LANTERN_API_KEY: ca.adminKey },
      });
    };
    const active = ca.ctx.tokenKeys.activeKid;
    expect(await run('keys', 'list')).toBe(0);
    expect(out.join('\n')).toMatch(new RegExp(`${active}\\s+active`));
    expect(await run('keys', 'revoke')).toBe(2);
    expect(await run('keys', 'revoke', 'not-a-kid')).toBe(2);
    expect(await run('keys', 'replace')).toBe(2);
    expect(out.join('\n')).toContain('add --yes');
    out.length = 0;
    expect(await run('keys', 'revoke', '--', active)).toBe(0);
    expect(out.join('\n')).toContain(`Token key ${active} revoked`);
    expect(await run('keys', 'revoke', '--json', '--', active)).toBe(1);
    expect(out.join('\n')).toContain('token_key_not_found');
    const before = ca.ctx.tokenKeys.jwks().keys.map((key) => key.kid);
    expect(await run('keys', 'replace', '--yes', '--json')).toBe(0);
    expect(ca.ctx.tokenKeys.jwks().keys.some((key) => before.includes(key.kid))).toBe(false);
  });

  it('revokes a compromised key at once: a token it signed is refused by the CA; unknown and malformed kids are 4xx', async () => {
    const { accessToken } = (
      await login({ tenant: tenantId, username: 'amina', password: PASSWORD })
    ).json() as { accessToken: string };
    const mfa = () =>
      ca.app.inject({
        method: 'GET',
        url: '/v1/mfa',
        headers: { authorization: `Bearer ${accessToken}` },
      });
    expect((await mfa()).statusCode).toBe(200);
    const compromised = ca.ctx.tokenKeys.activeKid;
    const listed = await ca.admin('GET', '/v1/admin/keys');
    expect(listed.statusCode).toBe(200);
    expect(listed.json()).toMatchObject({
      keys: [{ status: 'next' }, { kid: compromised, status: 'active' }],
    });
    const revoked = await ca.admin('POST', `/v1/admin/keys/${compromised}/revoke`, {});
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toMatchObject({ revokedKid: compromised, removedKids: [compromised] });
    expect(ca.ctx.tokenKeys.activeKid).not.toBe(compromised);
    expect((await mfa()).statusCode).toBe(401);
    const jwks = (await ca.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as {
      keys: { kid: string }[];
    };
    expect(jwks.keys.map((key) => key.kid)).not.toContain(compromised);

    const again = await ca.admin('POST', `/v1/admin/keys/${compromised}/revoke`, {});
    expect(again.statusCode).toBe(404);
    expect(again.json()).toMatchObject({ code: 'token_key_not_found' });
    const malformed = await ca.admin('POST', '/v1/admin/keys/..%2Fetc/revoke', {});
    expect(malformed.statusCode).toBe(400);

    // A leaked key store: every key goes, the one promoted above included.
    const promoted = ca.ctx.tokenKeys.activeKid;
    const replaced = await ca.admin('POST', '/v1/admin/keys/replace', {});
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json<{ removedKids: string[] }>().removedKids).toContain(promoted);
    expect(ca.ctx.tokenKeys.jwks().keys.map((key) => key.kid)).not.toContain(promoted);
  });

  it('keeps verifying a token issued before a rotation; a retired-and-removed key does not', async () => {
    const before = (
      await login({ tenant: tenantId, username: 'amina', password: PASSWORD })
    ).json() as { accessToken: string };
    const rotated = await ca.admin('POST', '/v1/admin/keys/rotate', {});
    expect(rotated.statusCode).toBe(200);
    expect(verifier().verify(before.accessToken, now())).toMatchObject({ ok: true });

    ca.clock.advance(15 * 86_400_000);
    await ca.ctx.tokenKeys.scheduledRotation();
    const jwks = ca.ctx.tokenKeys.jwks();
    const removed = createJwtVerifier({
      keys: importJwks(jwks),
      issuer: 'http://ca.test',
      audience: 'lantern',
      clockToleranceSeconds: 10 * 365 * 86_400,
    });
    expect(removed.verify(before.accessToken, now())).toMatchObject({
      ok: false,
      reason: 'unknown_kid',
    });
    expect(jwks.keys.every((key) => !('d' in key))).toBe(true);
  });
});
