import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { manualClock, runCli, systemClock } from '@lantern/shared';
import { UiSession } from '../src/daemon/ui/ui-session.js';
import { commands } from '../src/cli/commands.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agentPaths } from '../src/data-dir/agent-paths.js';
import { buildAgentApp } from '../src/daemon/agent-app.js';
import type { RunningAgent } from '../src/daemon/serve-agent.js';
import { serveAgent } from '../src/daemon/serve-agent.js';
import { enroll } from '../src/enrollment/enroll.js';
import { openAgentStore } from '../src/store/agent-store.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const posix = process.platform !== 'win32';

/** What other engineers' features look like: routes behind the local-secret hook. */
const exampleFeature: FastifyPluginAsync = async (app) => {
  app.post('/v1/echo', async (req) => ({ echoed: req.body }));
  app.get('/v1/boom', async () => {
    throw new Error(`database at ${agentPaths('/secret/place').database} is on fire`);
  });
  app.get('/', { config: { anonymous: true } }, async () => ({ page: 'sign-in' }));
  app.get('/v1/things/:id', { config: { anonymous: true } }, async (req) => req.params);
};

async function call(
  url: string,
  path: string,
  init: { method?: string; secret?: string; authorization?: string; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const authorization =
    init.authorization ?? (init.secret === undefined ? undefined : `Bearer ${init.secret}`);
  const response = await fetch(`${url}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(authorization === undefined ? {} : { authorization }),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}

/** A request with a Host header of our choosing, which fetch does not allow. */
function requestWithHost(
  url: string,
  path: string,
  host: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers: { host } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('agent loopback API', () => {
  const running: RunningAgent[] = [];
  const start = async (dataDir: string, host?: string) => {
    const agent = await serveAgent({
      dataDir,
      clock: systemClock,
      port: 0,
      features: [exampleFeature],
      ...(host === undefined ? {} : { host }),
    });
    running.push(agent);
    return { ...agent, secret: readFileSync(agentPaths(dataDir).localSecret, 'utf8') };
  };
  afterEach(async () => {
    for (const agent of running.splice(0)) await agent.close();
  });

  let ca: TestCa;
  let caUrl = '';
  let tenantId = '';
  beforeAll(async () => {
    ca = await startTestCa({ now: Date.now() });
    caUrl = await ca.app.listen({ port: 0, host: '127.0.0.1' });
    tenantId = await createTenant(ca, 'Daemon School');
  });
  afterAll(async () => {
    await ca.close();
  });

  it('serves status without auth, enrolled or not, with no secret in it', async () => {
    const dataDir = tempDir();
    const agent = await start(dataDir);
    expect(agent.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const before = await call(agent.url, '/v1/status');
    expect(before.status).toBe(200);
    expect(before.body).toEqual({ enrolled: false });
    await agent.close();

    const outcome = await enroll({
      dataDir,
      caUrl,
      token: await createEnrollmentToken(ca, tenantId),
      rootFingerprint: ca.rootFingerprint,
      clock: systemClock,
    });
    const again = await start(dataDir);
    const after = await call(again.url, '/v1/status');
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({
      enrolled: true,
      deviceId: outcome.deviceId,
      tenantId,
      rootFingerprint: ca.rootFingerprint,
    });
    const text = JSON.stringify(after.body);
    expect(text).not.toContain(again.secret);
    expect(text).not.toContain(dataDir);
    expect(text).not.toContain('PRIVATE');
  });

  it('keeps one 0600 local secret across restarts', async () => {
    const dataDir = tempDir();
    const first = await start(dataDir);
    await first.close();
    const second = await start(dataDir);
    expect(second.secret).toBe(first.secret);
    expect(first.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    if (posix) expect(statSync(agentPaths(dataDir).localSecret).mode & 0o777).toBe(0o600);
  });

  it('refuses feature routes without the local secret, or with a wrong one, with 401', async () => {
    const agent = await start(tempDir());
    const body = { hello: 'world' };
    const none = await call(agent.url, '/v1/echo', { method: 'POST', body });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'unauthorized' });
    expect(none.headers.get('www-authenticate')).toContain('Bearer');

    const wrongSecret = `${agent.secret.slice(0, -1)}${agent.secret.endsWith('A') ? 'B' : 'A'}`;
    for (const authorization of [
      `Bearer ${wrongSecret}`,
      `Bearer ${agent.secret}x`,
      `Basic ${agent.secret}`,
      agent.secret,
      'Bearer ',
    ]) {
      const refused = await call(agent.url, '/v1/echo', { method: 'POST', body, authorization });
      expect(refused.status, authorization).toBe(401);
    }

    const ok = await call(agent.url, '/v1/echo', { method: 'POST', body, secret: agent.secret });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ echoed: body });
  });

  it('lets a feature opt a page out of auth, and hides unknown routes behind it', async () => {
    const agent = await start(tempDir());
    expect((await call(agent.url, '/')).body).toEqual({ page: 'sign-in' });
    expect((await call(agent.url, '/v1/nothing')).status).toBe(401);
    const authed = await call(agent.url, '/v1/nothing', { secret: agent.secret });
    expect(authed.status).toBe(404);
    expect(authed.body).toMatchObject({ code: 'not_found' });
  });

  it('masks 5xx details', async () => {
    const agent = await start(tempDir());
    const failed = await call(agent.url, '/v1/boom', { secret: agent.secret });
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ code: 'internal_error' });
    expect(JSON.stringify(failed.body)).not.toContain('/secret/place');
  });

  it('refuses requests that name another host (DNS rebinding)', async () => {
    const agent = await start(tempDir());
    const port = new URL(agent.url).port;
    const rebound = await requestWithHost(agent.url, '/v1/status', `evil.example:${port}`);
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toMatchObject({ code: 'loopback_only' });
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) {
      expect((await requestWithHost(agent.url, '/v1/status', host)).status, host).toBe(200);
    }
  });

  it('serve prints a one-time page link; `lantern-agent page` mints another with the secret', async () => {
    const dataDir = tempDir();
    const agent = await start(dataDir);
    const port = new URL(agent.url).port;
    expect(agent.launchUrl).toMatch(
      new RegExp(`^http://localhost:${port}/\\?launch=[A-Za-z0-9_-]{43}$`),
    );
    const stdout: string[] = [];
    const page = (extra: string[]) =>
      runCli('lantern-agent', commands, ['page', '--data-dir', dataDir, '--json', ...extra], {
        stdout: (text) => stdout.push(text),
        stderr: () => undefined,
        readStdin: async () => '',
        env: {},
      });
    expect(await page(['--port', port])).toBe(0);
    const { url } = JSON.parse(stdout.pop() ?? '{}') as { url: string };
    expect(url).not.toBe(agent.launchUrl);
    // Both links are live and each works once (the page feature redeems them, see passkeys.test).
    for (const link of [url, agent.launchUrl]) {
      const nonce = new URL(link).searchParams.get('launch') ?? '';
      expect(agent.app.uiSession.redeemLaunch(nonce)).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(agent.app.uiSession.redeemLaunch(nonce)).toBeNull();
    }
    await agent.close();
    expect(await page(['--port', port])).toBe(1);
    expect(JSON.parse(stdout.pop() ?? '{}')).toMatchObject({ code: 'agent_unreachable' });
    expect(await page(['--port', 'x'])).toBe(2);
  });

  it('lets a launch link expire, and keeps only the newest unused links', () => {
    const clock = manualClock(0);
    const ui = new UiSession({ clock, launchTtlMs: 1_000 });
    const late = ui.issueLaunch();
    expect(late.expiresAt).toBe(1_000);
    clock.advance(1_000);
    expect(ui.redeemLaunch(late.nonce)).toBeNull();
    const links = Array.from({ length: 17 }, () => ui.issueLaunch().nonce);
    expect(ui.redeemLaunch(links[0] ?? '')).toBeNull();
    const cookie = ui.redeemLaunch(links[16] ?? '');
    expect(ui.presentedIn(`other=1; lantern_ui=${cookie}`)).toBe(true);
    expect(ui.presentedIn('lantern_ui=forged')).toBe(false);
  });

  it('refuses to bind to a non-loopback host, before opening anything', async () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.org']) {
      const dataDir = tempDir();
      await expect(start(dataDir, host), host).rejects.toMatchObject({ code: 'loopback_only' });
    }
  });
});

describe('agent app built directly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-agent-app-'));
  const store = openAgentStore(agentPaths(dir).database, { clock: systemClock });
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildAgentApp({ store, localSecret: 's'.repeat(43), features: [exampleFeature] });
  });
  afterAll(async () => {
    await app.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers only loopback peers, even if someone listened elsewhere', async () => {
    const remote = await app.inject({ url: '/v1/status', remoteAddress: '192.168.1.20' });
    expect(remote.statusCode).toBe(403);
    expect(remote.json()).toMatchObject({ code: 'loopback_only' });
    const mapped = await app.inject({ url: '/v1/status', remoteAddress: '::ffff:127.0.0.1' });
    expect(mapped.statusCode).toBe(200);
    const ipv6 = await app.inject({
      url: '/v1/status',
      remoteAddress: '::1',
      headers: { host: '[::1]:7767' },
    });
    expect(ipv6.statusCode).toBe(200);
  });

  it("answers the router's own refusals in the API's error shape", async () => {
    const badEncoding = await app.inject({ url: '/v1/things/%ZZ' });
    expect(badEncoding.statusCode).toBe(400);
    expect(badEncoding.json()).toMatchObject({ code: 'invalid_request' });
    const longSegment = await app.inject({ url: `/v1/things/${'a'.repeat(200)}` });
    expect(longSegment.statusCode).toBeLessThan(500);
    expect(longSegment.json()).toMatchObject({ code: 'invalid_request' });
  });
});
