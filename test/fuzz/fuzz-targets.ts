import type { FastifyInstance } from 'fastify';
import { enrollTestDevice, testDeviceKey } from '../support/device-keys.js';
import type { FuzzTargets } from './fuzz-requests.js';

/**
 * Fills a fresh CA with what fuzzed requests name: two tenants, a tenant API key, users, a
 * device that signs proofs and victims (a device, a user, a token, a key) that admin calls may
 * revoke or erase without taking the proving device down with them.
 */
export async function prepareFuzzTargets(
  app: FastifyInstance,
  adminKey: string,
): Promise<FuzzTargets> {
  const call = async <T>(method: 'GET' | 'POST', url: string, payload?: object): Promise<T> => {
    const response = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${adminKey}` },
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
    if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.body}`);
    return response.json() as T;
  };
  const tenant = async (name: string) =>
    (await call<{ tenantId: string }>('POST', '/v1/admin/tenants', { name })).tenantId;
  const token = (tenantId: string) =>
    call<{ token: string; tokenId: string }>('POST', '/v1/admin/enrollment-tokens', {
      tenant: tenantId,
    });
  const user = async (tenantId: string, username: string) =>
    (
      await call<{ userId: string }>('POST', '/v1/admin/users', {
        tenant: tenantId,
        username,
        role: 'learner',
        password: 'a long fuzz password',
      })
    ).userId;

  const tenantId = await tenant('Fuzz A');
  const otherTenantId = await tenant('Fuzz B');
  const device = await enrollTestDevice(app, (await token(tenantId)).token);
  const victimDevice = await enrollTestDevice(app, (await token(tenantId)).token);
  const otherDevice = await enrollTestDevice(app, (await token(otherTenantId)).token);
  await user(tenantId, 'fuzzy');
  const victimUser = await user(tenantId, 'victim');
  const otherUser = await user(otherTenantId, 'stranger');
  const login = await app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: tenantId, username: 'fuzzy', password: 'a long fuzz password' },
  });
  const { accessToken, sessionId } = login.json() as { accessToken: string; sessionId: string };
  const tenantKey = await call<{ apiKey: string; keyId: string }>('POST', '/v1/admin/api-keys', {
    tenant: tenantId,
    scopes: ['admin'],
  });
  const victimKey = await call<{ keyId: string }>('POST', '/v1/admin/api-keys', {
    tenant: otherTenantId,
    scopes: ['devices:read'],
  });
  return {
    tenantId,
    otherTenantId,
    adminKey,
    tenantKey: tenantKey.apiKey,
    accessToken,
    victims: {
      device: victimDevice.deviceId,
      otherDevice: otherDevice.deviceId,
      user: victimUser,
      otherUser,
      token: (await token(tenantId)).tokenId,
      key: victimKey.keyId,
      session: sessionId,
    },
    device,
    enrollmentToken: (await token(tenantId)).token,
    csr: await testDeviceKey().csr(),
  };
}
