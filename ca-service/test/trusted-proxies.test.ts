import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';

// The per-client sign-in limit is keyed on the client address: two sign-ins under one limit of 1
// are both admitted only when the CA sees two clients.
describe('client address behind a load balancer (--trust-proxy)', () => {
  let ca: TestCa;
  let tenantId: string;
  const apps: FastifyInstance[] = [];

  // One CA; each case has its own app, and so its own rate-limit counters.
  beforeAll(async () => {
    ca = await startTestCa();
    tenantId = await createTenant(ca, 'Proxy School');
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });
  afterAll(() => ca.close());

  const statuses = async (
    trustedProxies: readonly string[] | undefined,
    attempts: readonly { peer: string; forwardedFor: string }[],
  ) => {
    const app = await buildApp({
      context: ca.ctx,
      loginRateLimitPerMinute: 1,
      ...(trustedProxies ? { trustedProxies } : {}),
    });
    apps.push(app);
    const codes: number[] = [];
    for (const { peer, forwardedFor } of attempts) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        remoteAddress: peer,
        headers: { 'x-forwarded-for': forwardedFor },
        payload: { tenant: tenantId, username: 'nobody', password: 'not the password' },
      });
      codes.push(response.statusCode);
    }
    return codes;
  };

  it('ignores X-Forwarded-For when no proxy is trusted: a client cannot pose as many', async () => {
    expect(
      await statuses(undefined, [
        { peer: '198.51.100.7', forwardedFor: '203.0.113.1' },
        { peer: '198.51.100.7', forwardedFor: '203.0.113.2' },
      ]),
    ).toEqual([401, 429]);
  });

  it('ignores X-Forwarded-For from a peer outside the trusted blocks', async () => {
    expect(
      await statuses(
        ['10.0.0.0/8'],
        [
          { peer: '198.51.100.7', forwardedFor: '203.0.113.1' },
          { peer: '198.51.100.7', forwardedFor: '203.0.113.2' },
        ],
      ),
    ).toEqual([401, 429]);
  });

  it('takes the client from a trusted balancer, so pupils behind it keep their own budgets', async () => {
    expect(
      await statuses(
        ['10.0.0.0/8'],
        [
          { peer: '10.1.2.3', forwardedFor: '203.0.113.1' },
          { peer: '10.1.2.3', forwardedFor: '203.0.113.2' },
          { peer: '10.9.9.9', forwardedFor: '203.0.113.1' },
        ],
      ),
    ).toEqual([401, 401, 429]);
  });

  it('reads the hop the balancer saw, not one the client wrote in front of it', async () => {
    expect(
      await statuses(
        ['10.0.0.5'],
        [
          { peer: '10.0.0.5', forwardedFor: '192.0.2.1, 203.0.113.1' },
          { peer: '10.0.0.5', forwardedFor: '192.0.2.99, 203.0.113.1' },
        ],
      ),
    ).toEqual([401, 429]);
  });
});
