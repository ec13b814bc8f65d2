import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '@lantern/ca-service';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { startTestCa } from '../../test/support/ca-fixture.js';

let ca: TestCa;
beforeEach(async () => {
  ca = await startTestCa();
});
afterEach(async () => ca.close());

describe('CA HTTP basics', () => {
  it('serves its trust material and an OpenAPI document', async () => {
    const root = await ca.app.inject({ method: 'GET', url: '/v1/ca/root' });
    expect(root.headers['content-type']).toContain('application/x-pem-file');
    expect(root.body).toBe(ca.ctx.ca.rootPem);
    const chain = await ca.app.inject({ method: 'GET', url: '/v1/ca/chain' });
    expect(chain.body).toBe(`${ca.ctx.ca.issuingPem}${ca.ctx.ca.rootPem}`);
    const openapi = (await ca.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(openapi.openapi).toMatch(/^3\./);
    for (const path of [
      '/v1/devices/enroll',
      '/v1/devices/renew',
      '/v1/auth/login',
      '/v1/sync',
      '/v1/revocations',
    ]) {
      expect(Object.keys(openapi.paths)).toContain(path);
    }
  });

  it('answers unknown routes with not_found, never a stack', async () => {
    const response = await ca.app.inject({ method: 'GET', url: '/v1/../../etc/passwd' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'not_found' });
  });

  it('reports readiness per check', async () => {
    expect((await ca.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await ca.app.inject({ method: 'GET', url: '/health/ready' })).json()).toMatchObject({
      status: 'ok',
    });
  });

  it('rate-limits enrollment attempts per client', async () => {
    const limited = await buildApp({ context: ca.ctx, enrollRateLimitPerMinute: 2 });
    try {
      const attempt = () =>
        limited.inject({
          method: 'POST',
          url: '/v1/devices/enroll',
          payload: { enrollmentToken: 'x', csr: 'y' },
        });
      expect((await attempt()).statusCode).toBe(401);
      expect((await attempt()).statusCode).toBe(401);
      const third = await attempt();
      expect(third.statusCode).toBe(429);
      expect(third.json()).toMatchObject({ code: 'rate_limited' });
    } finally {
      await limited.close();
    }
  });
});
