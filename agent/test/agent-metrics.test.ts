import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentMetrics, agentObservabilityRoutes } from '../src/daemon/agent-metrics.js';
import { buildAgentApp } from '../src/daemon/agent-app.js';
import { dataDirSyncRunner } from '../src/daemon/data-dir-sync-runner.js';
import { signinRoutes } from '../src/daemon/signin-routes.js';
import { openAgentStore } from '../src/store/agent-store.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { PASSWORD, TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const SECRET = 'm'.repeat(43);

let world: SigninWorld;
let device: TestDevice;
let app: FastifyInstance;
let userId: string;

beforeEach(async () => {
  world = await startSigninWorld(tempDir);
  userId = await world.user('amina');
  device = await world.device();
  const store = openAgentStore(join(device.dataDir, 'agent.db'), { clock: world.agentClock });
  const metrics = new AgentMetrics(world.agentClock);
  app = await buildAgentApp({
    store,
    localSecret: SECRET,
    features: [
      signinRoutes({
        dataDir: device.dataDir,
        clock: world.agentClock,
        signin: { ...TEST_OPTIONS, caTimeoutMs: 5000 },
        onVerdict: (verdict) => metrics.signin('password', verdict),
      }),
      agentObservabilityRoutes({ dataDir: device.dataDir, clock: world.agentClock, metrics }),
    ],
  });
  app.addHook('onClose', async () => store.close());
});
// Before `useTempDirs` removes the data directory.
afterEach(async () => {
  await app?.close();
  await world?.close();
});

const signin = (password: string) =>
  app.inject({
    method: 'POST',
    url: '/v1/signin',
    headers: { authorization: `Bearer ${SECRET}` },
    payload: { username: 'amina', password },
  });

async function scrape(): Promise<Map<string, number>> {
  const response = await app.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: `Bearer ${SECRET}` },
  });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of response.body.split('\n')) {
    const match = /^(lantern_agent_[a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) samples.set(match[1] ?? '', match[2] === '+Inf' ? Infinity : Number(match[2]));
  }
  return samples;
}

describe('agent /health and /metrics on the loopback port', () => {
  it('keeps /metrics behind the local secret, and answers /health to anyone local', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }]) {
      const refused = await app.inject({ method: 'GET', url: '/metrics', headers });
      expect(refused.statusCode).toBe(401);
      expect(refused.body).not.toContain('lantern_agent_');
    }
    const health = await app.inject({ method: 'GET', url: '/health' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
  });

  it(
    'counts offline sign-ins by method and result, refusals by code, and reads the store',
    { timeout: 30_000 },
    async () => {
      const before = await scrape();
      expect(before.get('lantern_agent_last_sync_age_seconds')).toBe(Infinity);
      expect(
        before.get('lantern_agent_offline_signins_total{method="password",result="success"}'),
      ).toBe(0);
      expect(
        before.get('lantern_agent_signin_refusals_total{method="password",code="bad_credentials"}'),
      ).toBe(0);

      expect((await signin(PASSWORD)).json()).toMatchObject({ mode: 'online', userId });
      world.link.set('down');
      expect((await signin(PASSWORD)).json()).toMatchObject({ mode: 'offline', userId });
      expect((await signin('not the password')).json()).toMatchObject({ code: 'bad_credentials' });

      const after = await scrape();
      expect(
        after.get('lantern_agent_offline_signins_total{method="password",result="success"}'),
      ).toBe(1);
      expect(
        after.get('lantern_agent_offline_signins_total{method="password",result="refused"}'),
      ).toBe(1);
      expect(
        after.get('lantern_agent_signin_refusals_total{method="password",code="bad_credentials"}'),
      ).toBe(1);
      const pending =
        device.count('outbox') -
        (
          device.opened.store.db
            .prepare('SELECT count(*) AS n FROM outbox WHERE acked = 1')
            .get() as { n: number }
        ).n;
      expect(pending).toBeGreaterThan(0);
      expect(after.get('lantern_agent_outbox_depth')).toBe(pending);
      // No user, session or device id in any label.
      for (const name of after.keys()) {
        expect(name).not.toContain(userId);
        expect(name).not.toMatch(/usr_|ses_|dev_/);
      }

      world.link.set('up');
      const outcome = await dataDirSyncRunner(device.dataDir, world.agentClock).run();
      expect(outcome.completed).toBe(true);
      world.agentClock.advance(90_000);
      const synced = await scrape();
      expect(synced.get('lantern_agent_outbox_depth')).toBe(0);
      expect(synced.get('lantern_agent_last_sync_age_seconds')).toBe(90);
    },
  );
});
