import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';

/** docs/architecture.md §9.6: an API key of tenant A never reads or changes tenant B, on any admin route. */
describe('tenant isolation of the admin API', () => {
  let ca: TestCa;
  let keyA = '';
  const b: Record<string, string> = {};

  beforeAll(async () => {
    ca = await startTestCa();
    const tenantA = await createTenant(ca, 'Tenant A');
    b['tenant'] = await createTenant(ca, 'Tenant B');
    keyA = (
      (
        await ca.admin('POST', '/v1/admin/api-keys', { tenant: tenantA, scopes: ['admin'] })
      ).json() as { apiKey: string }
    ).apiKey;
    b['device'] = (
      await enrollTestDevice(ca.app, await createEnrollmentToken(ca, b['tenant']))
    ).deviceId;
    b['token'] = (
      (await ca.admin('POST', '/v1/admin/enrollment-tokens', { tenant: b['tenant'] })).json() as {
        tokenId: string;
      }
    ).tokenId;
    b['user'] = await createUser(ca, b['tenant'], 'bea', 'password of bea');
    const session = (
      await ca.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { tenant: b['tenant'], username: 'bea', password: 'password of bea' },
      })
    ).json() as { sessionId: string };
    b['session'] = session.sessionId;
    b['key'] = (
      (
        await ca.admin('POST', '/v1/admin/api-keys', {
          tenant: b['tenant'],
          scopes: ['devices:read'],
        })
      ).json() as { keyId: string }
    ).keyId;
    b['grant'] = 'grt_01J9Z3YQ8M6W4Q9V2K7T5R3N1E';
  });
  afterAll(async () => ca.close());

  const routes: [string, 'GET' | 'POST', () => string, () => unknown, number][] = [
    [
      'list B devices',
      'GET',
      () => `/v1/admin/devices?tenant=${b['tenant']}`,
      () => undefined,
      403,
    ],
    ['read a B device', 'GET', () => `/v1/admin/devices/${b['device']}`, () => undefined, 404],
    [
      'revoke a B device',
      'POST',
      () => `/v1/admin/devices/${b['device']}/revoke`,
      () => ({ reason: 'lost' }),
      404,
    ],
    [
      'create a B enrollment token',
      'POST',
      () => '/v1/admin/enrollment-tokens',
      () => ({ tenant: b['tenant'] }),
      403,
    ],
    [
      'list B enrollment tokens',
      'GET',
      () => `/v1/admin/enrollment-tokens?tenant=${b['tenant']}`,
      () => undefined,
      403,
    ],
    [
      'revoke a B enrollment token',
      'POST',
      () => `/v1/admin/enrollment-tokens/${b['token']}/revoke`,
      () => ({}),
      404,
    ],
    [
      'create a B user',
      'POST',
      () => '/v1/admin/users',
      () => ({ tenant: b['tenant'], username: 'x', role: 'learner', password: 'long enough pw' }),
      403,
    ],
    ['list B users', 'GET', () => `/v1/admin/users?tenant=${b['tenant']}`, () => undefined, 403],
    ['read a B user', 'GET', () => `/v1/admin/users/${b['user']}`, () => undefined, 404],
    ['lock a B user', 'POST', () => `/v1/admin/users/${b['user']}/lock`, () => ({}), 404],
    ['erase a B user', 'POST', () => `/v1/admin/users/${b['user']}/erase`, () => ({}), 404],
    [
      'revoke a B session',
      'POST',
      () => `/v1/admin/sessions/${b['session']}/revoke`,
      () => ({}),
      404,
    ],
    ['revoke a B grant', 'POST', () => `/v1/admin/grants/${b['grant']}/revoke`, () => ({}), 404],
    [
      'create a B API key',
      'POST',
      () => '/v1/admin/api-keys',
      () => ({ tenant: b['tenant'], scopes: ['admin'] }),
      403,
    ],
    ['revoke a B API key', 'POST', () => `/v1/admin/api-keys/${b['key']}/revoke`, () => ({}), 404],
    [
      'read B revocations',
      'GET',
      () => `/v1/revocations?tenant=${b['tenant']}`,
      () => undefined,
      403,
    ],
    ['create a tenant', 'POST', () => '/v1/admin/tenants', () => ({ name: 'Tenant C' }), 403],
    ['rotate token keys', 'POST', () => '/v1/admin/keys/rotate', () => ({}), 403],
    ['replace the token keys', 'POST', () => '/v1/admin/keys/replace', () => ({}), 403],
    ['list the token keys', 'GET', () => '/v1/admin/keys', () => undefined, 403],
    [
      'revoke a token key',
      'POST',
      () => `/v1/admin/keys/${ca.ctx.tokenKeys.activeKid}/revoke`,
      () => ({}),
      403,
    ],
  ];

  it.each(routes)('cannot %s', async (_label, method, url, body, status) => {
    const before = (await ca.ctx.store.read({ tenantId: b['tenant'], limit: 10_000 })).length;
    const response = await ca.admin(method, url(), body(), keyA);
    expect(response.statusCode).toBe(status);
    expect(response.json()).toMatchObject({
      code: expect.stringMatching(/^(forbidden|[a-z_]+_not_found)$/),
    });
    expect((await ca.ctx.store.read({ tenantId: b['tenant'], limit: 10_000 })).length).toBe(before);
  });

  it('sees only its own tenant in the tenant list', async () => {
    const { tenants } = (await ca.admin('GET', '/v1/admin/tenants', undefined, keyA)).json() as {
      tenants: { name: string }[];
    };
    expect(tenants.map((tenant) => tenant.name)).toEqual(['Tenant A']);
  });

  it('refuses every admin route without a key, and with a revoked key', async () => {
    expect((await ca.app.inject({ method: 'GET', url: '/v1/admin/devices' })).json()).toMatchObject(
      { code: 'unauthorized' },
    );
    const { apiKey, keyId } = (
      await ca.admin('POST', '/v1/admin/api-keys', { scopes: ['devices:read'] })
    ).json() as {
      apiKey: string;
      keyId: string;
    };
    expect((await ca.admin('GET', `/v1/admin/devices`, undefined, apiKey)).statusCode).toBe(200);
    await ca.admin('POST', `/v1/admin/api-keys/${keyId}/revoke`, {});
    expect((await ca.admin('GET', `/v1/admin/devices`, undefined, apiKey)).json()).toMatchObject({
      code: 'unauthorized',
    });
  });

  it('refuses a key without the scope', async () => {
    const { apiKey } = (
      await ca.admin('POST', '/v1/admin/api-keys', { scopes: ['devices:read'] })
    ).json() as { apiKey: string };
    const response = await ca.admin(
      'POST',
      `/v1/admin/devices/${b['device']}/revoke`,
      { reason: 'lost' },
      apiKey,
    );
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ code: 'forbidden' });
  });
});
