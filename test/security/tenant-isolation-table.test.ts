import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookDispatcher } from '@lantern/ca-service';
import type { TestCa } from '../support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../support/ca-fixture.js';
import { enrollTestDevice } from '../support/device-keys.js';
import { routesOf } from '../fuzz/fuzz-requests.js';

/**
 * docs/architecture.md §9.6, driven by the served route list: every admin route and every event route has a
 * row saying how tenant A's key tries to reach tenant B, and a route the CA serves without a
 * row fails this test. ca-service/test/tenant-isolation.test.ts pins the exact status per route;
 * this table guarantees none is forgotten and that no listing leaks B's rows.
 */
let ca: TestCa;
let keyA = '';
const b: Record<string, string> = {};

// Not hex, so that no hash or key id in a response can contain it by chance.
const BEA = 'bea_zz_tenant_b';
const TENANT_SCOPED = /^\/v1\/(admin\/|events|revocations|users\/)/;

type Row = { url: () => string; body?: () => unknown };
const rows: Record<string, Row> = {
  'POST /v1/admin/tenants': { url: () => '/v1/admin/tenants', body: () => ({ name: 'Tenant C' }) },
  'GET /v1/admin/tenants': { url: () => '/v1/admin/tenants' },
  'POST /v1/admin/enrollment-tokens': {
    url: () => '/v1/admin/enrollment-tokens',
    body: () => ({ tenant: b['tenant'] }),
  },
  'GET /v1/admin/enrollment-tokens': {
    url: () => `/v1/admin/enrollment-tokens?tenant=${b['tenant']}`,
  },
  'POST /v1/admin/enrollment-tokens/{id}/revoke': {
    url: () => `/v1/admin/enrollment-tokens/${b['token']}/revoke`,
    body: () => ({}),
  },
  'GET /v1/admin/devices': { url: () => `/v1/admin/devices?tenant=${b['tenant']}` },
  'GET /v1/admin/devices/{id}': { url: () => `/v1/admin/devices/${b['device']}` },
  'POST /v1/admin/devices/{id}/revoke': {
    url: () => `/v1/admin/devices/${b['device']}/revoke`,
    body: () => ({ reason: 'lost' }),
  },
  'GET /v1/revocations': { url: () => `/v1/revocations?tenant=${b['tenant']}` },
  'POST /v1/admin/users': {
    url: () => '/v1/admin/users',
    body: () => ({ tenant: b['tenant'], username: 'x', role: 'learner', password: 'long pw x' }),
  },
  'GET /v1/admin/users': { url: () => `/v1/admin/users?tenant=${b['tenant']}` },
  'GET /v1/admin/users/{id}': { url: () => `/v1/admin/users/${b['user']}` },
  'PATCH /v1/admin/users/{id}': {
    url: () => `/v1/admin/users/${b['user']}`,
    body: () => ({ displayName: 'Not Bea' }),
  },
  'POST /v1/admin/organizations': {
    url: () => '/v1/admin/organizations',
    body: () => ({ tenant: b['tenant'], name: 'Annexed school' }),
  },
  'GET /v1/admin/organizations': { url: () => `/v1/admin/organizations?tenant=${b['tenant']}` },
  'POST /v1/admin/invitations': {
    url: () => '/v1/admin/invitations',
    body: () => ({ tenant: b['tenant'], email: 'intruder@a.example' }),
  },
  'GET /v1/admin/invitations': { url: () => `/v1/admin/invitations?tenant=${b['tenant']}` },
  'POST /v1/admin/invitations/{id}/revoke': {
    url: () => `/v1/admin/invitations/${b['invitation']}/revoke`,
    body: () => ({ tenant: b['tenant'] }),
  },
  'GET /v1/admin/memberships': { url: () => `/v1/admin/memberships?tenant=${b['tenant']}` },
  'POST /v1/admin/memberships': {
    url: () => '/v1/admin/memberships',
    body: () => ({ tenant: b['tenant'], userId: b['user'] }),
  },
  'POST /v1/admin/memberships/{id}/suspend': {
    url: () => `/v1/admin/memberships/${b['membership']}/suspend`,
    body: () => ({ tenant: b['tenant'] }),
  },
  'POST /v1/admin/memberships/{id}/roles': {
    url: () => `/v1/admin/memberships/${b['membership']}/roles`,
    body: () => ({ tenant: b['tenant'], role: 'org_admin' }),
  },
  'POST /v1/admin/memberships/{id}/permissions': {
    url: () => `/v1/admin/memberships/${b['membership']}/permissions`,
    body: () => ({ tenant: b['tenant'], permission: 'events:read' }),
  },
  'POST /v1/admin/users/{id}/{action}': {
    url: () => `/v1/admin/users/${b['user']}/erase`,
    body: () => ({}),
  },
  'POST /v1/admin/sessions/{id}/revoke': {
    url: () => `/v1/admin/sessions/${b['session']}/revoke`,
    body: () => ({}),
  },
  'POST /v1/admin/grants/{id}/revoke': {
    url: () => `/v1/admin/grants/${b['grant']}/revoke`,
    body: () => ({}),
  },
  'POST /v1/admin/api-keys': {
    url: () => '/v1/admin/api-keys',
    body: () => ({ tenant: b['tenant'], scopes: ['admin'] }),
  },
  'POST /v1/admin/api-keys/{id}/revoke': {
    url: () => `/v1/admin/api-keys/${b['key']}/revoke`,
    body: () => ({}),
  },
  'POST /v1/admin/keys/rotate': { url: () => '/v1/admin/keys/rotate', body: () => ({}) },
  'GET /v1/admin/keys': { url: () => '/v1/admin/keys' },
  'POST /v1/admin/keys/replace': { url: () => '/v1/admin/keys/replace', body: () => ({}) },
  'POST /v1/admin/keys/{kid}/revoke': {
    url: () => `/v1/admin/keys/${ca.ctx.tokenKeys.activeKid}/revoke`,
    body: () => ({}),
  },
  'GET /v1/admin/tenants/{id}/mfa-policy': {
    url: () => `/v1/admin/tenants/${b['tenant']}/mfa-policy`,
  },
  'PUT /v1/admin/tenants/{id}/mfa-policy': {
    url: () => `/v1/admin/tenants/${b['tenant']}/mfa-policy`,
    body: () => ({ roles: { learner: { required: [], offline: ['password'] } } }),
  },
  'GET /v1/admin/tenants/{id}/password-policy': {
    url: () => `/v1/admin/tenants/${b['tenant']}/password-policy`,
  },
  'PUT /v1/admin/tenants/{id}/password-policy': {
    url: () => `/v1/admin/tenants/${b['tenant']}/password-policy`,
    body: () => ({ minLength: 12, refuseCommon: true }),
  },
  'GET /v1/admin/tenants/{id}/risk-policy': {
    url: () => `/v1/admin/tenants/${b['tenant']}/risk-policy`,
  },
  'PUT /v1/admin/tenants/{id}/risk-policy': {
    url: () => `/v1/admin/tenants/${b['tenant']}/risk-policy`,
    body: () => ({ enabled: true }),
  },
  'GET /v1/admin/tenants/{id}/sso': { url: () => `/v1/admin/tenants/${b['tenant']}/sso` },
  'POST /v1/admin/tenants/{id}/sso': {
    url: () => `/v1/admin/tenants/${b['tenant']}/sso`,
    body: () => ({
      provider: 'oidc',
      issuer: 'https://idp.example',
      clientId: 'x',
      clientSecret: 'y',
    }),
  },
  'POST /v1/admin/users/{id}/sso-identities': {
    url: () => `/v1/admin/users/${b['user']}/sso-identities`,
    body: () => ({ subject: 'someone' }),
  },
  'POST /v1/admin/users/{id}/mfa/reset': {
    url: () => `/v1/admin/users/${b['user']}/mfa/reset`,
    body: () => ({}),
  },
  'GET /v1/admin/users/{id}/mfa': { url: () => `/v1/admin/users/${b['user']}/mfa` },
  'DELETE /v1/admin/users/{id}/mfa/webauthn/{credentialId}': {
    url: () => `/v1/admin/users/${b['user']}/mfa/webauthn/AAAAAAAAAAAAAAAAAAAAAA`,
  },
  'GET /v1/admin/overview': { url: () => `/v1/admin/overview?tenant=${b['tenant']}` },
  'GET /v1/admin/device-activity': {
    url: () => `/v1/admin/device-activity?tenant=${b['tenant']}`,
  },
  'GET /v1/admin/devices/{id}/certificates': {
    url: () => `/v1/admin/devices/${b['device']}/certificates`,
  },
  'POST /v1/admin/users/{id}/password': {
    url: () => `/v1/admin/users/${b['user']}/password`,
    body: () => ({ password: 'a new password for bea' }),
  },
  'POST /v1/admin/users/{id}/sessions/revoke': {
    url: () => `/v1/admin/users/${b['user']}/sessions/revoke`,
    body: () => ({}),
  },
  'GET /v1/admin/audit': { url: () => `/v1/admin/audit?tenant=${b['tenant']}` },
  'GET /v1/events': { url: () => `/v1/events?tenant=${b['tenant']}` },
  'GET /v1/events/export': { url: () => `/v1/events/export?tenant=${b['tenant']}` },
  'GET /v1/users/{id}/timeline': { url: () => `/v1/users/${b['user']}/timeline` },
  'POST /v1/admin/webhooks': {
    url: () => '/v1/admin/webhooks',
    body: () => ({
      tenant: b['tenant'],
      url: 'https://hooks.a.example/steal',
      eventTypes: ['identity.user.registered'],
    }),
  },
  'GET /v1/admin/webhooks': { url: () => `/v1/admin/webhooks?tenant=${b['tenant']}` },
  'POST /v1/admin/webhooks/{id}/delete': {
    url: () => `/v1/admin/webhooks/${b['webhook']}/delete`,
    body: () => ({}),
  },
  'GET /v1/admin/webhooks/{id}/deliveries': {
    url: () => `/v1/admin/webhooks/${b['webhook']}/deliveries`,
  },
  'POST /v1/admin/webhooks/deliveries/{id}/redeliver': {
    url: () => `/v1/admin/webhooks/deliveries/${b['delivery']}/redeliver`,
    body: () => ({}),
  },
};

/** Lists tenant A's key may read: what they return must hold nothing of tenant B. */
const LISTINGS = [
  '/v1/admin/tenants',
  '/v1/admin/overview',
  '/v1/admin/device-activity',
  '/v1/admin/devices',
  '/v1/admin/users',
  '/v1/admin/enrollment-tokens',
  '/v1/revocations',
  '/v1/events?limit=1000',
  '/v1/events/export',
  '/v1/admin/webhooks',
];

beforeAll(async () => {
  ca = await startTestCa();
  const tenantA = await createTenant(ca, 'Tenant A');
  b['tenant'] = await createTenant(ca, 'Tenant B');
  keyA = (
    (
      await ca.admin('POST', '/v1/admin/api-keys', { tenant: tenantA, scopes: ['admin'] })
    ).json() as { apiKey: string }
  ).apiKey;
  await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantA));
  await createUser(ca, tenantA, 'ana', 'password of ana');
  b['device'] = (
    await enrollTestDevice(ca.app, await createEnrollmentToken(ca, b['tenant']))
  ).deviceId;
  b['token'] = (
    (await ca.admin('POST', '/v1/admin/enrollment-tokens', { tenant: b['tenant'] })).json() as {
      tokenId: string;
    }
  ).tokenId;
  b['user'] = await createUser(ca, b['tenant'], BEA, 'password of bea');
  b['session'] = (
    (
      await ca.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { tenant: b['tenant'], username: BEA, password: 'password of bea' },
      })
    ).json() as { sessionId: string }
  ).sessionId;
  b['key'] = (
    (
      await ca.admin('POST', '/v1/admin/api-keys', {
        tenant: b['tenant'],
        scopes: ['devices:read'],
      })
    ).json() as { keyId: string }
  ).keyId;
  b['membership'] = (
    (
      await ca.admin('POST', '/v1/admin/memberships', { tenant: b['tenant'], userId: b['user'] })
    ).json() as { membershipId: string }
  ).membershipId;
  b['invitation'] = (
    (
      await ca.admin('POST', '/v1/admin/invitations', {
        tenant: b['tenant'],
        email: 'newcomer@b.example',
      })
    ).json() as { invitation: { invitationId: string } }
  ).invitation.invitationId;
  // A revocation in B's feed, so that B's revocation page is not empty.
  const victim = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, b['tenant']));
  await ca.admin('POST', `/v1/admin/devices/${victim.deviceId}/revoke`, { reason: 'stolen' });
  b['victim'] = victim.deviceId;
  b['grant'] = 'grt_01J9Z3YQ8M6W4Q9V2K7T5R3N1E';
  // A webhook of B with one delivery in its log (to an endpoint that does not answer).
  b['webhook'] = (
    (
      await ca.admin('POST', '/v1/admin/webhooks', {
        tenant: b['tenant'],
        url: 'https://hooks.b.invalid/lantern',
        eventTypes: ['identity.user.registered'],
      })
    ).json() as { subscriptionId: string }
  ).subscriptionId;
  await createUser(ca, b['tenant'], 'bea_two_zz', 'password of bea two');
  await new WebhookDispatcher(ca.ctx, { timeoutMs: 1_000 }).runOnce();
  b['delivery'] = (
    (await ca.admin('GET', `/v1/admin/webhooks/${b['webhook']}/deliveries`)).json() as {
      deliveries: { deliveryId: string }[];
    }
  ).deliveries[0]!.deliveryId;
});
afterAll(async () => ca.close());

describe('tenant isolation over the whole route list', () => {
  it('every admin and event route the CA serves has a row in this table', async () => {
    const served = routesOf((await ca.app.inject({ method: 'GET', url: '/openapi.json' })).json())
      .filter((route) => TENANT_SCOPED.test(route.path))
      .map((route) => `${route.method} ${route.path}`);
    expect(served.length).toBeGreaterThan(20);
    expect(served.filter((route) => !(route in rows))).toEqual([]);
    // And no stale rows for routes that are gone.
    expect(Object.keys(rows).filter((route) => !served.includes(route))).toEqual([]);
  });

  it.each(Object.entries(rows))('%s: tenant A cannot reach tenant B', async (route, row) => {
    const method = route.split(' ')[0] as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
    const before = (await ca.ctx.store.read({ tenantId: b['tenant'], limit: 10_000 })).length;
    const response = await ca.admin(method, row.url(), row.body?.(), keyA);
    const tenantBIds = Object.values(b);
    if (route === 'GET /v1/admin/tenants') {
      // The one listing without a tenant parameter: it answers, with A's tenant only.
      expect(response.statusCode).toBe(200);
    } else {
      expect([403, 404], response.body).toContain(response.statusCode);
      expect(response.json()).toMatchObject({
        code: expect.stringMatching(/^(forbidden|[a-z_]+_not_found)$/),
      });
    }
    for (const id of tenantBIds) expect(response.body).not.toContain(id);
    expect((await ca.ctx.store.read({ tenantId: b['tenant'], limit: 10_000 })).length).toBe(before);
  });

  it.each(LISTINGS)('%s with A’s key lists nothing of tenant B', async (url) => {
    const response = await ca.admin('GET', url, undefined, keyA);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.body.length).toBeGreaterThan(2);
    for (const id of Object.values(b)) expect(response.body).not.toContain(id);
    expect(response.body).not.toContain(BEA);
  });

  it('sanity: the installation key does see tenant B, so the leak checks can fail', async () => {
    const response = await ca.admin('GET', `/v1/admin/devices?tenant=${b['tenant']}`);
    expect(response.body).toContain(b['device']);
    const events = await ca.admin('GET', `/v1/events?tenant=${b['tenant']}&limit=1000`);
    expect(events.body).toContain(b['user']);
  });
});
