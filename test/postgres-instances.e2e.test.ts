import Database from 'better-sqlite3';
import pg from 'pg';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDENTITY_STREAM } from '../ca-service/src/outbox/identity-streams.js';
import { streamMessages, until } from '../ca-service/test/support/jetstream.js';
import type { PrivateNats } from './support/nats.js';
import { startNats } from './support/nats.js';
import type { PostgresSchema } from './support/postgres.js';
import { createPostgresSchema } from './support/postgres.js';
import {
  AGENT_CLI,
  CA_CLI,
  freePort,
  runNode,
  runNodeAsync,
  startNode,
} from './support/processes.js';

/**
 * A load balancer in front of the instances, as the agent and admins see one: it forwards to
 * the instance the test names, refuses connections when none is named (the network is down),
 * and can lose the answer to one request after the instance committed it, which makes the
 * agent retry the same push against another instance.
 */
interface Balancer {
  url: string;
  target: number | null;
  /** Loses the answer to the next request for `path`, then sends everything to `failover`. */
  loseAnswerTo(path: string, failover: number): void;
  answersLost: number;
  close(): Promise<void>;
}

async function startBalancer(): Promise<Balancer> {
  let lose: { path: string; failover: number } | null = null;
  const balancer = { target: null as number | null, answersLost: 0 } as Balancer;
  const server: Server = createServer((incoming, outgoing) => {
    const target = balancer.target;
    if (target === null) {
      incoming.socket.destroy();
      return;
    }
    const dropped = lose !== null && incoming.url?.startsWith(lose.path) === true ? lose : null;
    if (dropped) lose = null;
    const upstream = request(
      {
        host: '127.0.0.1',
        port: target,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (answer: IncomingMessage) => {
        if (dropped) {
          answer.resume();
          answer.on('end', () => {
            balancer.answersLost += 1;
            balancer.target = dropped.failover;
            incoming.socket.destroy();
          });
          return;
        }
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on('error', () => incoming.socket.destroy());
    incoming.pipe(upstream);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return Object.assign(balancer, {
    url: `http://127.0.0.1:${port}`,
    loseAnswerTo: (path: string, failover: number) => {
      lose = { path, failover };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

type Instance = Awaited<ReturnType<typeof startNode>> & { port: number; dir: string };

/**
 * Issue 17's end-to-end run with real processes: two `lantern-ca serve` instances sharing one
 * PostgreSQL schema (each with its own copy of the data dir, as on two hosts) behind a load
 * balancer, a private JetStream, and `lantern-agent` for the device.
 */
describe('two CA instances on one PostgreSQL database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-pg-e2e-'));
  const agentDir = join(dir, 'agent');
  let schema: PostgresSchema;
  let nats: PrivateNats;
  let balancer: Balancer;
  let a: Instance;
  let b: Instance;
  let rootFingerprint = '';
  let adminKey = '';

  const sql = async <T>(text: string, params: unknown[] = []): Promise<T[]> => {
    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      return (await client.query(text, params)).rows as T[];
    } finally {
      await client.end();
    }
  };
  const ca = (args: string[], input?: string) =>
    runNode(CA_CLI, [...args, '--data-dir', join(dir, 'a'), '--json'], {
      ...(input === undefined ? {} : { input }),
    });
  const agent = (args: string[], input?: string) =>
    runNodeAsync(AGENT_CLI, [...args, '--data-dir', agentDir, '--json'], {
      ...(input === undefined ? {} : { input }),
    });
  const serve = async (name: string): Promise<Instance> => {
    const port = await freePort();
    const instanceDir = join(dir, name);
    const started = await startNode(
      CA_CLI,
      ['serve', '--data-dir', instanceDir, '--port', String(port), '--nats', nats.url],
      /listening on/,
    );
    return Object.assign(started, { port, dir: instanceDir });
  };
  const createUser = (instance: Instance, tenant: string, username: string) =>
    fetch(`http://127.0.0.1:${instance.port}/v1/admin/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        tenant,
        username,
        password: 'a long enough password',
        role: 'learner',
      }),
    });

  beforeAll(async () => {
    schema = await createPostgresSchema();
    nats = await startNats();
    balancer = await startBalancer();
    const init = runNode(CA_CLI, [
      ...['init', '--data-dir', join(dir, 'a'), '--dev-root-in-data-dir'],
      ...['--url', balancer.url, '--database', schema.url, '--json'],
    ]);
    expect(init.status, init.stderr).toBe(0);
    rootFingerprint = init.json<{ rootFingerprint: string }>().rootFingerprint;
    adminKey = readFileSync(join(dir, 'a', 'secrets', 'admin-api-key'), 'utf8').trim();
    // The second host gets the same keys and configuration: a copy of the initialised data dir.
    cpSync(join(dir, 'a'), join(dir, 'b'), { recursive: true });
    [a, b] = await Promise.all([serve('a'), serve('b')]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await balancer?.close();
    await nats?.stop();
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls through A, revokes through B, takes one push once through B then A, and keeps one chain', async () => {
    const tenant = ca(['tenant', 'create', 'Lakeside District School']);
    expect(tenant.status, tenant.stderr).toBe(0);
    const tenantId = tenant.json<{ id: string }>().id;
    const user = ca(
      ['user', 'create', '--tenant', tenantId, '--username', 'amina', '--role', 'learner'],
      'a long enough password',
    );
    expect(user.status, user.stderr).toBe(0);
    const token = ca(['enroll-token', 'create', '--tenant', tenantId, '--ttl', '15m']);
    expect(token.status, token.stderr).toBe(0);

    balancer.target = a.port;
    const enrolled = await agent([
      ...['enroll', '--ca', balancer.url, '--token', token.json<{ token: string }>().token],
      ...['--root-fingerprint', rootFingerprint],
    ]);
    expect(enrolled.status, enrolled.stdout + enrolled.stderr).toBe(0);
    const { deviceId } = enrolled.json<{ deviceId: string }>();
    const online = await agent(
      ['signin', '--user', 'amina', '--tenant', tenantId],
      'a long enough password',
    );
    expect(online.status, online.stdout + online.stderr).toBe(0);

    balancer.target = null;
    for (let i = 0; i < 3; i += 1) {
      const offline = await agent(
        ['signin', '--user', 'amina', '--tenant', tenantId],
        'a long enough password',
      );
      expect(offline.status, offline.stdout + offline.stderr).toBe(0);
    }
    const outbox = new Database(join(agentDir, 'agent.db'), { readonly: true });
    const queued = (
      outbox.prepare('SELECT event_id FROM outbox WHERE acked = 0').all() as { event_id: string }[]
    ).map((row) => row.event_id);
    outbox.close();
    expect(queued.length).toBeGreaterThanOrEqual(3);

    const revoke = runNode(
      CA_CLI,
      [
        'device',
        'revoke',
        deviceId,
        '--reason',
        'lost',
        '--url',
        `http://127.0.0.1:${b.port}`,
        '--json',
      ],
      { env: { LANTERN_API_KEY: adminKey } },
    );
    expect(revoke.status, revoke.stdout + revoke.stderr).toBe(0);

    // B commits the push but its answer is lost; the agent's retry reaches A.
    balancer.target = b.port;
    balancer.loseAnswerTo('/v1/sync', a.port);
    const synced = await agent(['sync']);
    expect(balancer.answersLost).toBe(1);
    expect(balancer.target).toBe(a.port);
    expect(synced.status, synced.stdout + synced.stderr).toBe(0);
    expect(synced.json()).toMatchObject({
      failedRounds: 1,
      pushed: queued.length,
      duplicates: queued.length,
      accepted: 0,
      deviceRevoked: true,
      revokeReason: 'lost',
    });
    const status = await agent(['status']);
    expect(status.json()).toMatchObject({ outboxDepth: 0 });

    const stored = await sql<{ event_id: string; n: number }>(
      'SELECT event_id, COUNT(*)::int AS n FROM events WHERE event_id = ANY($1) GROUP BY event_id',
      [queued],
    );
    expect(stored.map((row) => row.event_id).sort()).toEqual([...queued].sort());
    expect(stored.every((row) => row.n === 1)).toBe(true);

    const verified = runNode(CA_CLI, [
      ...['audit', 'verify', '--data-dir', b.dir, '--database', schema.url, '--json'],
    ]);
    expect(verified.status, verified.stdout + verified.stderr).toBe(0);
    expect(verified.json()).toMatchObject({ ok: true });
  }, 120_000);

  it('publishes every event to JetStream once while the relay instance is killed mid-run', async () => {
    // The instance that did not get the relay lease says so, and waits for it.
    await until(() => /relay\.standby/.test(a.output() + b.output()), 20_000);
    const [leader, survivor] = /relay\.standby/.test(a.output()) ? [b, a] : [a, b];
    expect(/relay\.standby/.test(leader.output())).toBe(false);
    const tenant = ca(['tenant', 'create', 'Relay Handover School']);
    const tenantId = tenant.json<{ id: string }>().id;

    const letters = 'abcdefghijklmnopqrstuvwxyz';
    const names = Array.from(
      { length: 40 },
      (_, i) => `learner${letters[i % 26]}${letters[(i / 26) | 0]}`,
    );
    // Writes to both instances; the relay's instance dies while they are in flight.
    let finished = 0;
    const firstHalf = names.slice(0, 20).map(async (name, i) => {
      const response = await createUser(i % 2 === 0 ? a : b, tenantId, name);
      finished += 1;
      return response.status;
    });
    const firstSettled = Promise.allSettled(firstHalf);
    await until(() => finished >= 8, 20_000);
    await leader.stop('SIGKILL');
    const before = await firstSettled;
    const after = [];
    for (const name of names.slice(20))
      after.push((await createUser(survivor, tenantId, name)).status);
    expect(
      before.filter((s) => s.status === 'fulfilled' && s.value === 201).length,
    ).toBeGreaterThanOrEqual(8);
    expect(after.every((status) => status === 201)).toBe(true);

    await until(() => /relay\.lease_taken/.test(survivor.output()), 20_000);
    const ids = (await sql<{ event_id: string }>('SELECT event_id FROM events')).map(
      (row) => row.event_id,
    );
    await until(
      async () => (await streamMessages(nats.url, IDENTITY_STREAM)).length >= ids.length,
      30_000,
    );
    const published = (await streamMessages(nats.url, IDENTITY_STREAM)).map((message) =>
      message.headers?.get('Nats-Msg-Id'),
    );
    expect(published.length).toBe(new Set(published).size);
    expect(new Set(published)).toEqual(new Set(ids));

    const verified = runNode(CA_CLI, [
      ...['audit', 'verify', '--data-dir', survivor.dir, '--json'],
    ]);
    expect(verified.json()).toMatchObject({ ok: true });
  }, 120_000);
});
