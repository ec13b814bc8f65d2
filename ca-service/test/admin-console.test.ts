import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';
import { AuditCheckpoints } from '../src/audit/audit-checkpoints.js';
import { CONSOLE_IDLE_MS } from '../src/console/console-sessions.js';

/** What `inject` calls itself: the Origin a page of this service would send. */
const ORIGIN = 'http://localhost:80';

// One CA for the file (a CA per test costs more than the tests); each test has its own school.
let ca: TestCa;
let tenantId = '';
let schools = 0;
beforeAll(async () => {
  ca = await startTestCa();
});
afterAll(async () => ca?.close());
beforeEach(async () => {
  tenantId = await createTenant(ca, `Hillside ${++schools}`);
});

interface Console {
  cookie: string;
  csrf: string;
  call(
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
}

async function signIn(body: Record<string, string>): Promise<Console> {
  const response = await ca.app.inject({
    method: 'POST',
    url: '/admin/session',
    headers: { origin: ORIGIN },
    payload: body,
  });
  expect(response.statusCode, response.body).toBe(201);
  const cookie = String(response.headers['set-cookie']).split(';')[0]!;
  const csrf = (response.json() as { csrfToken: string }).csrfToken;
  return {
    cookie,
    csrf,
    call: (method, url, payload, headers = {}) =>
      ca.app.inject({
        method,
        url,
        headers: {
          cookie,
          ...(method === 'GET' ? {} : { origin: ORIGIN, 'x-lantern-csrf': csrf }),
          ...headers,
        },
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      }),
  };
}

describe('console sign-in', () => {
  it('turns the admin API key into an HttpOnly, SameSite=Strict session cookie', async () => {
    const response = await ca.app.inject({
      method: 'POST',
      url: '/admin/session',
      headers: { origin: ORIGIN },
      payload: { apiKey: ca.adminKey },
    });
    expect(response.statusCode).toBe(201);
    const cookie = String(response.headers['set-cookie']);
    expect(cookie).toMatch(
      /^lantern_console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/,
    );
    expect(response.json()).toMatchObject({
      kind: 'api_key',
      tenantId: null,
      caUrl: 'http://ca.test',
      rootFingerprint: ca.rootFingerprint,
    });
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('refuses a wrong key, a key without the admin scope, a cross-origin post and half a password form', async () => {
    const post = (payload: Record<string, string>, origin = ORIGIN) =>
      ca.app.inject({ method: 'POST', url: '/admin/session', headers: { origin }, payload });
    expect((await post({ apiKey: `lk_AAAAAAAA.${'A'.repeat(43)}` })).json()).toMatchObject({
      code: 'unauthorized',
    });
    const reader = (
      await ca.admin('POST', '/v1/admin/api-keys', { tenant: tenantId, scopes: ['devices:read'] })
    ).json() as { apiKey: string };
    expect((await post({ apiKey: reader.apiKey })).statusCode).toBe(403);
    expect((await post({ apiKey: ca.adminKey }, 'https://evil.example')).statusCode).toBe(403);
    const noOrigin = await ca.app.inject({
      method: 'POST',
      url: '/admin/session',
      payload: { apiKey: ca.adminKey },
    });
    expect(noOrigin.statusCode).toBe(403);
    expect((await post({ tenant: tenantId, username: 'x' })).json()).toMatchObject({
      code: 'invalid_request',
    });
  });

  it('needs the CSRF token and the own Origin for changes, not for reads', async () => {
    const admin = await signIn({ apiKey: ca.adminKey });
    expect((await admin.call('GET', '/v1/admin/tenants')).statusCode).toBe(200);
    const before = await ca.eventCount();
    const noToken = await admin.call(
      'POST',
      '/v1/admin/tenants',
      { name: 'Forged' },
      { 'x-lantern-csrf': '' },
    );
    expect(noToken.statusCode).toBe(403);
    expect(noToken.json()).toMatchObject({ code: 'forbidden' });
    const wrongToken = await admin.call(
      'POST',
      '/v1/admin/tenants',
      { name: 'Forged' },
      { 'x-lantern-csrf': admin.csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) },
    );
    expect(wrongToken.statusCode).toBe(403);
    const otherOrigin = await admin.call(
      'POST',
      '/v1/admin/tenants',
      { name: 'Forged' },
      { origin: 'http://localhost:8081' },
    );
    expect(otherOrigin.statusCode).toBe(403);
    expect(await ca.eventCount()).toBe(before);
    // The public URL's origin counts as the console's own (a TLS proxy in front of the CA).
    const viaPublicUrl = await admin.call(
      'POST',
      '/v1/admin/tenants',
      { name: 'Proxied' },
      { origin: 'http://ca.test' },
    );
    expect(viaPublicUrl.statusCode).toBe(201);
    expect((await admin.call('POST', '/v1/admin/tenants', { name: 'Real' })).statusCode).toBe(201);
  });

  it('ends after the idle timeout, on sign-out, and when its API key is revoked', async () => {
    const admin = await signIn({ apiKey: ca.adminKey });
    ca.clock.advance(CONSOLE_IDLE_MS - 1000);
    expect((await admin.call('GET', '/admin/session')).statusCode).toBe(200);
    ca.clock.advance(CONSOLE_IDLE_MS - 1000);
    expect((await admin.call('GET', '/v1/admin/tenants')).statusCode).toBe(200);
    ca.clock.advance(CONSOLE_IDLE_MS + 1000);
    const idle = await admin.call('GET', '/v1/admin/tenants');
    expect(idle.statusCode).toBe(401);
    expect(idle.json()).toMatchObject({ message: 'the console session timed out: sign in again' });

    const again = await signIn({ apiKey: ca.adminKey });
    const out = await again.call('DELETE', '/admin/session');
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    expect((await again.call('GET', '/v1/admin/tenants')).statusCode).toBe(401);

    const key = (
      await ca.admin('POST', '/v1/admin/api-keys', { tenant: tenantId, scopes: ['admin'] })
    ).json() as { apiKey: string; keyId: string };
    const tenantConsole = await signIn({ apiKey: key.apiKey });
    expect((await tenantConsole.call('GET', '/v1/admin/devices')).statusCode).toBe(200);
    await ca.admin('POST', `/v1/admin/api-keys/${key.keyId}/revoke`, {});
    expect((await tenantConsole.call('GET', '/v1/admin/devices')).statusCode).toBe(401);
  });

  it('signs in a tenant admin by password, names them as the actor, and ends with their sessions', async () => {
    const adminId = await createUser(ca, tenantId, 'rita', 'password of rita', 'admin');
    await createUser(ca, tenantId, 'lee', 'password of lee', 'learner');
    const learner = await ca.app.inject({
      method: 'POST',
      url: '/admin/session',
      headers: { origin: ORIGIN },
      payload: { tenant: tenantId, username: 'lee', password: 'password of lee' },
    });
    expect(learner.statusCode).toBe(403);
    expect(
      (await ca.ctx.store.db
        .prepare("SELECT COUNT(*) AS n FROM sessions WHERE tenant_id = ? AND status = 'active'")
        .get(tenantId)) as { n: number },
    ).toEqual({ n: 0 });
    const wrong = await ca.app.inject({
      method: 'POST',
      url: '/admin/session',
      headers: { origin: ORIGIN },
      payload: { tenant: tenantId, username: 'rita', password: 'not it' },
    });
    expect(wrong.json()).toMatchObject({ code: 'invalid_credentials' });

    const rita = await signIn({
      tenant: tenantId,
      username: 'rita',
      password: 'password of rita',
    });
    const other = await createTenant(ca, `Riverside ${schools}`);
    expect((await rita.call('GET', `/v1/admin/devices?tenant=${other}`)).statusCode).toBe(403);
    expect((await rita.call('POST', '/v1/admin/tenants', { name: 'Mine' })).statusCode).toBe(403);
    const token = await rita.call('POST', '/v1/admin/enrollment-tokens', { ttlSeconds: 600 });
    expect(token.statusCode).toBe(201);
    const [issued] = await ca.ctx.store.read({
      tenantId,
      eventType: 'identity.enrollment_token.issued',
    });
    expect(issued?.actor).toEqual({ type: 'user', id: adminId });

    await ca.admin('POST', `/v1/admin/users/${adminId}/sessions/revoke`, {});
    const ended = await rita.call('GET', '/v1/admin/devices');
    expect(ended.statusCode).toBe(401);
    expect(ended.json()).toMatchObject({
      message: 'this console session was ended by an admin: sign in again',
    });

    const back = await signIn({
      tenant: tenantId,
      username: 'rita',
      password: 'password of rita',
    });
    await back.call('DELETE', '/admin/session');
    expect(
      await ca.ctx.store.db
        .prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND status = 'active'")
        .get(adminId),
    ).toEqual({ n: 0 });
  });
});

describe('console admin routes', () => {
  it('overview counts devices, expiring certificates, silent devices and failed sign-ins', async () => {
    await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    const victim = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    await ca.admin('POST', `/v1/admin/devices/${victim.deviceId}/revoke`, { reason: 'lost' });
    await createUser(ca, tenantId, 'amara', 'password of amara');
    await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenantId, username: 'amara', password: 'wrong' },
    });
    const overview = async (query = '') =>
      (await ca.admin('GET', `/v1/admin/overview?tenant=${tenantId}${query}`)).json();
    expect(await overview()).toMatchObject({
      devices: { enrolled: 2, active: 1, revoked: 1 },
      certificatesExpiringSoon: 0,
      notSeen: 0,
      failedSignInsLastHour: 1,
      outbox: { relayRunning: false, deadLetters: 0 },
    });
    ca.clock.advance(24 * 86_400_000);
    expect(await overview('&staleDays=30')).toMatchObject({
      certificatesExpiringSoon: 1,
      notSeen: 0,
      failedSignInsLastHour: 0,
    });
    expect(await overview()).toMatchObject({ notSeen: 1 });
    const bad = await ca.admin('GET', `/v1/admin/overview?staleDays=0`);
    expect(bad.statusCode).toBe(400);
  });

  it('shows a device’s certificates and the users who signed in on it', async () => {
    const device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    const certs = await ca.admin('GET', `/v1/admin/devices/${device.deviceId}/certificates`);
    const [current] = (certs.json() as { certificates: Record<string, unknown>[] }).certificates;
    const view = (await ca.admin('GET', `/v1/admin/devices/${device.deviceId}`)).json() as {
      currentSerial: string;
    };
    expect(current).toMatchObject({ serial: view.currentSerial, current: true, revokedAt: null });
    expect(String(current?.['issuer'])).toContain('CN=');
    const activity = await ca.admin('GET', `/v1/admin/device-activity?tenant=${tenantId}`);
    expect(activity.json()).toEqual({
      devices: [{ deviceId: device.deviceId, lastSeenAt: expect.any(String), users: [] }],
    });
    expect(
      (await ca.admin('GET', '/v1/admin/devices/dev_01J9Z3YQ8M6W4Q9V2K7T5R3N1E/certificates'))
        .statusCode,
    ).toBe(404);
  });

  it('resets a password (and a learner PIN, by the PIN policy)', async () => {
    const userId = await createUser(ca, tenantId, 'ben', 'old password of ben', 'teacher');
    const login = (password: string) =>
      ca.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { tenant: tenantId, username: 'ben', password },
      });
    const reset = await ca.admin('POST', `/v1/admin/users/${userId}/password`, {
      password: 'new password of ben',
    });
    expect(reset.statusCode).toBe(200);
    expect((await login('new password of ben')).statusCode).toBe(200);
    expect((await login('old password of ben')).statusCode).toBe(401);
    const [set] = (
      await ca.ctx.store.read({ tenantId, eventType: 'identity.user.password_set' })
    ).filter((event) => event.payload['reason'] === 'admin_reset');
    expect(set?.payload).toEqual({ userId, kind: 'password', reason: 'admin_reset' });

    const learner = await createUser(ca, tenantId, 'kid', '482916', 'learner');
    const weak = await ca.admin('POST', `/v1/admin/users/${learner}/password`, {
      password: '1234',
    });
    expect(weak.json()).toMatchObject({ code: 'credential_rejected' });
  });

  it('reports the audit chain and verifies the last signed checkpoint', async () => {
    const empty = (await ca.admin('GET', `/v1/admin/audit?tenant=${tenantId}`)).json();
    expect(empty).toMatchObject({ chain: { ok: true }, lastCheckpoint: null });
    await new AuditCheckpoints(ca.ctx.store, ca.clock, {
      issuingPem: ca.ctx.ca.issuingPem,
      signer: ca.ctx.ca.authority.signer,
    }).create();
    const signed = (await ca.admin('GET', `/v1/admin/audit?tenant=${tenantId}`)).json() as {
      chain: { headPosition: number };
      lastCheckpoint: { position: number; verified: boolean };
    };
    expect(signed.lastCheckpoint).toMatchObject({
      position: signed.chain.headPosition,
      verified: true,
    });
    expect((await ca.admin('GET', '/v1/admin/audit')).json()).toMatchObject({
      code: 'invalid_request',
    });
  });
});

describe('console page', () => {
  it('is served with a strict CSP and no inline script', async () => {
    const page = await ca.app.inject({ method: 'GET', url: '/admin/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(page.body).toContain('<script type="module" src="/admin/assets/app.js"></script>');
    expect((await ca.app.inject({ method: 'GET', url: '/admin' })).headers.location).toBe(
      '/admin/',
    );
    const unknown = await ca.app.inject({ method: 'GET', url: '/admin/assets/evil.js' });
    expect(unknown.statusCode).toBe(400);
  });
});
