import Fastify from 'fastify';
import type { FastifyPluginAsync } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { adminApi } from '../src/http/admin-api.js';

/** The admin plugin: every route under it declares a scope, and the hooks enforce it. */
describe('the admin API plugin', () => {
  let ca: TestCa;
  beforeAll(async () => {
    ca = await startTestCa();
  });
  afterAll(async () => ca.close());

  const startWith = async (feature: FastifyPluginAsync) => {
    const app = Fastify();
    try {
      await app.register(adminApi(ca.ctx, [feature]));
      await app.ready();
    } finally {
      await app.close();
    }
  };

  it('refuses to start with a route that declares no scope', async () => {
    await expect(
      startWith(async (app) => {
        app.get('/v1/admin/forgotten', async () => ({ open: true }));
      }),
    ).rejects.toThrow('admin route GET /v1/admin/forgotten declares no scope');
  });

  it('refuses to start with a route whose scope is not one the keys can hold', async () => {
    await expect(
      startWith(async (app) => {
        app.post(
          '/v1/admin/typo',
          { config: { scope: 'devices:wirte' as 'devices:write' } },
          async () => ({}),
        );
      }),
    ).rejects.toThrow('admin route POST /v1/admin/typo declares no scope');
  });

  it('starts with routes that declare one', async () => {
    await expect(
      startWith(async (app) => {
        app.get('/v1/admin/fine', { config: { scope: 'devices:read' } }, async () => ({}));
      }),
    ).resolves.toBeUndefined();
  });

  it('answers 401 before reading the body of a caller without a credential', async () => {
    const response = await ca.app.inject({
      method: 'POST',
      url: '/v1/admin/users',
      payload: { username: 42 },
    });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ code: 'unauthorized' });
  });

  it("enforces the route's scope, tenant and installation rules", async () => {
    const tenant = await createTenant(ca, 'Scoped school');
    const readOnly = (
      await ca.admin('POST', '/v1/admin/api-keys', { tenant, scopes: ['devices:read'] })
    ).json() as { apiKey: string };
    const lacking = await ca.admin(
      'POST',
      '/v1/admin/enrollment-tokens',
      { tenant },
      readOnly.apiKey,
    );
    expect(lacking.statusCode).toBe(403);
    expect(lacking.json()).toMatchObject({
      message: 'this API key lacks the "enrollment:write" scope',
    });
    const other = await createTenant(ca, 'Other school');
    const elsewhere = await ca.admin(
      'GET',
      `/v1/admin/devices?tenant=${other}`,
      undefined,
      readOnly.apiKey,
    );
    expect(elsewhere.statusCode).toBe(403);
    expect(elsewhere.json()).toMatchObject({ message: 'this API key belongs to another tenant' });
    const tenantAdmin = (
      await ca.admin('POST', '/v1/admin/api-keys', { tenant, scopes: ['admin'] })
    ).json() as { apiKey: string };
    const wide = await ca.admin('POST', '/v1/admin/keys/rotate', {}, tenantAdmin.apiKey);
    expect(wide.statusCode).toBe(403);
    expect(wide.json()).toMatchObject({
      message: 'only an installation-wide key can rotate token keys',
    });
    const own = await ca.admin('GET', '/v1/admin/devices', undefined, readOnly.apiKey);
    expect(own.statusCode).toBe(200);
  });

  it('documents the scope of every admin route', async () => {
    const document = (await ca.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
    };
    const admin = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, operation]) => operation.responses['403'] !== undefined)
        .map(([method, operation]) => [
          `${method} ${path}`,
          operation.responses['403']?.description,
        ]),
    );
    expect(admin.length).toBeGreaterThan(30);
    for (const [route, description] of admin) {
      expect(description, route).toMatch(/^The key lacks the `[a-z]+(:[a-z]+)?` scope/);
    }
  });
});
