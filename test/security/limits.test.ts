import { DEFAULT_TIMEOUTS, buildApp } from '@lantern/ca-service';
import type { FastifyInstance } from 'fastify';
import { connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../support/ca-fixture.js';
import { routesOf } from '../fuzz/fuzz-requests.js';

/**
 * Resource limits set on purpose (issue 11): body sizes, slow clients, sign-in rate limits.
 * The enrollment rate limit is proven in ca-service/test/app-basics.test.ts.
 */
let ca: TestCa;
let tenantId = '';

beforeAll(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Limits');
  await createUser(ca, tenantId, 'amina', 'a long password of amina');
});
afterAll(async () => ca.close());

function eventCount(): Promise<number> {
  return ca.eventCount();
}

describe('oversized bodies', () => {
  it('every POST and PUT route refuses a 3 MiB body with 413 body_too_large and writes nothing', async () => {
    const routes = routesOf((await ca.app.inject({ method: 'GET', url: '/openapi.json' })).json())
      .filter((route) => route.method === 'POST' || route.method === 'PUT')
      .map((route) => ({ ...route, url: route.path.replace(/\{[^}]+\}/g, 'x') }));
    expect(routes.length).toBeGreaterThan(20);
    const payload = JSON.stringify({ pad: 'x'.repeat(3 * 1024 * 1024) });
    const before = await eventCount();
    const answers = await Promise.all(
      routes.map(async (route) => {
        const response = await ca.app.inject({
          method: route.method as 'POST',
          url: route.url,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ca.adminKey}` },
          payload,
        });
        return `${route.method} ${route.path} ${response.statusCode} ${String(
          (response.json() as { code?: string }).code,
        )}`;
      }),
    );
    expect(answers).toEqual(
      routes.map((route) => `${route.method} ${route.path} 413 body_too_large`),
    );
    expect(await eventCount()).toBe(before);
  });

  it('a chunked body with no length is cut off at the limit too (real HTTP)', async () => {
    const app = await buildApp({ context: ca.ctx });
    try {
      const url = new URL(await app.listen({ host: '127.0.0.1', port: 0 }));
      const { status, body } = await new Promise<{ status: number; body: string }>(
        (resolve, reject) => {
          const outgoing = httpRequest(
            {
              host: url.hostname,
              port: url.port,
              method: 'POST',
              path: '/v1/auth/login',
              headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
            },
            (response) => {
              let text = '';
              response.on('data', (chunk: Buffer) => (text += chunk.toString()));
              response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
            },
          );
          outgoing.on('error', reject);
          outgoing.write('{"tenant":"');
          for (let i = 0; i < 64; i++) outgoing.write('x'.repeat(1024));
          outgoing.end('"}');
        },
      );
      expect(status).toBe(413);
      expect(JSON.parse(body)).toMatchObject({ code: 'body_too_large' });
    } finally {
      await app.close();
    }
  });
});

describe('slow clients', () => {
  it('the defaults are set on purpose, not left to Node', async () => {
    const app = await buildApp({ context: ca.ctx });
    try {
      expect(DEFAULT_TIMEOUTS).toEqual({
        idleMs: 30_000,
        requestMs: 30_000,
        keepAliveMs: 10_000,
        checkIntervalMs: 5_000,
      });
      expect(app.initialConfig).toMatchObject({
        connectionTimeout: 30_000,
        requestTimeout: 30_000,
        keepAliveTimeout: 10_000,
        bodyLimit: 1024 * 1024,
      });
      expect(app.server.requestTimeout).toBe(30_000);
      expect(app.server.timeout).toBe(30_000);
    } finally {
      await app.close();
    }
  });

  let app: FastifyInstance;
  let port = 0;
  const timeouts = { idleMs: 600, requestMs: 1_000, keepAliveMs: 500, checkIntervalMs: 200 };

  beforeAll(async () => {
    app = await buildApp({ context: ca.ctx, timeouts });
    port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port);
  });
  afterAll(async () => app.close());

  /** Opens a socket, lets `talk` write to it, and resolves with the ms until the server closes it. */
  function closedAfter(talk: (write: (text: string) => void) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = connect(port, '127.0.0.1', () => talk((text) => socket.write(text)));
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      socket.on('close', () => resolve(Date.now() - started));
      setTimeout(() => {
        socket.destroy();
        reject(new Error('the server kept a stalled connection open for 10 s'));
      }, 10_000).unref();
    });
  }

  it('closes a connection that sends headers and then stalls, within the idle timeout', async () => {
    const ms = await closedAfter((write) =>
      write(
        'POST /v1/auth/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"ten',
      ),
    );
    expect(ms).toBeGreaterThanOrEqual(timeouts.idleMs - 100);
    expect(ms).toBeLessThan(timeouts.idleMs + 1_500);
  });

  it('closes a connection that trickles its headers, within the request timeout', async () => {
    let timer: NodeJS.Timeout | undefined;
    const ms = await closedAfter((write) => {
      write('GET /health/live HTTP/1.1\r\n');
      // One byte every 100 ms keeps the socket from ever being idle.
      timer = setInterval(() => write('x'), 100);
    });
    clearInterval(timer);
    expect(ms).toBeGreaterThanOrEqual(timeouts.requestMs - 100);
    expect(ms).toBeLessThan(timeouts.requestMs + timeouts.checkIntervalMs + 1_500);
  });

  it('still answers a client that is merely quick', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/health/live`);
    expect(response.status).toBe(200);
  });
});

describe('sign-in rate limits', () => {
  const login = (app: FastifyInstance, username: string, ip = '10.0.0.1') =>
    app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      remoteAddress: ip,
      payload: { tenant: tenantId, username, password: 'not the password' },
    });

  it('limits attempts per client address and account: 429 rate_limited, other accounts unaffected', async () => {
    const app = await buildApp({
      context: ca.ctx,
      loginRateLimitPerMinute: 1_000,
      loginPerAccountRateLimitPerMinute: 3,
    });
    try {
      for (let i = 0; i < 3; i++) expect((await login(app, 'amina')).statusCode).toBe(401);
      const limited = await login(app, 'Amina');
      expect(limited.statusCode).toBe(429);
      expect(limited.json()).toMatchObject({ code: 'rate_limited' });
      expect((await login(app, 'someone-else')).statusCode).toBe(401);
      expect((await login(app, 'amina', '10.0.0.2')).statusCode).toBe(401);
    } finally {
      await app.close();
    }
  });

  it('limits attempts per client address across accounts (password spraying)', async () => {
    const app = await buildApp({ context: ca.ctx, loginRateLimitPerMinute: 3 });
    try {
      for (const name of ['a1', 'a2', 'a3']) expect((await login(app, name)).statusCode).toBe(401);
      const limited = await login(app, 'a4');
      expect(limited.statusCode).toBe(429);
      expect(limited.json()).toMatchObject({ code: 'rate_limited' });
      expect((await login(app, 'a5', '10.0.0.9')).statusCode).toBe(401);
    } finally {
      await app.close();
    }
  });

  it('the production defaults: 600 per client, 30 per client and account, per minute', async () => {
    const app = await buildApp({ context: ca.ctx });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 31; i++)
        statuses.push((await login(app, 'nobody', '10.9.9.9')).statusCode);
      expect(statuses.slice(0, 30).every((status) => status === 401)).toBe(true);
      expect(statuses[30]).toBe(429);
    } finally {
      await app.close();
    }
  }, 60_000);
});
