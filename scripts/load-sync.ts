/**
 * `npm run load -- --agents 300 --seconds 60`: issue 11's load test. One `lantern-ca serve`
 * process on SQLite, or with `--postgres URL --instances 2` several sharing a throwaway schema
 * of that PostgreSQL database (issue 17; devices spread over the instances round robin, as a
 * load balancer would); N enrolled devices (real keys, certificates from the CA's HTTP enrollment) each run
 * device-signed `POST /v1/sync` rounds back to back (push 1-10 new events, pull the feed from
 * their cursor, a 0-1 s pause) for the given time. A round that fails is retried with the same
 * events, as an agent's outbox does; after the time is up every device drains what is pending.
 *
 * Prints the error rate, p50/p95/p99 round latency, the CA's RSS (VmRSS of the child at the
 * start and end; the peak is the kernel's high-water mark, VmHWM, so a spike between two samples
 * counts) against issue 22's target of RSS_TARGET_MB, and events pushed vs stored: stored must
 * equal generated (no event lost) and no event may be stored twice. Exits 1 otherwise; a missed
 * RSS target is reported, not an exit code (it measures the machine too). `--json`: the last
 * line is one JSON object.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { generateKeyPairSync, sign } from 'node:crypto';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { buildApp, dataDirPaths, openCa } from '@lantern/ca-service';
import {
  DEVICE_PROOF_HEADER,
  buildCsrPem,
  createDeviceProof,
  createIdGenerator,
  createLogger,
  fromPem,
  systemClock,
} from '@lantern/shared';
import { Writable } from 'node:stream';
import type { PostgresSchema } from '../test/support/postgres.js';
import { createPostgresSchema } from '../test/support/postgres.js';
import { CA_CLI, freePort, runNode } from '../test/support/processes.js';
import type { CaProcess } from './fleet/ca-process.js';
import { startCaProcess } from './fleet/ca-process.js';

const USAGE =
  'usage: npm run load -- [--agents 300] [--seconds 60] [--postgres postgres://USER@HOST/DB [--instances 2]] [--json]';
/** Issue 22: the CA serving 300 syncing agents stays within this resident set. */
const RSS_TARGET_MB = 256;
const ids = createIdGenerator();

interface Device {
  deviceId: string;
  tenantId: string;
  x5c: string[];
  privateKey: ReturnType<typeof generateKeyPairSync>['privateKey'];
  /** Last sequence assigned. */
  seq: number;
  /** Highest sequence the CA acked. */
  acked: number;
  cursor: number;
  jwksEtag?: string;
  /** Events of a round that failed: sent again, unchanged, in the next one. */
  pending: { seq: number; event: Record<string, unknown> }[];
}

interface Stats {
  rounds: number;
  errors: Map<string, number>;
  latencies: number[];
  generated: number;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        agents: { type: 'string', default: '300' },
        seconds: { type: 'string', default: '60' },
        postgres: { type: 'string' },
        instances: { type: 'string', default: '1' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const agents = Number(values.agents);
  const seconds = Number(values.seconds);
  const instances = Number(values.instances);
  if (
    !Number.isSafeInteger(agents) ||
    agents < 1 ||
    !(seconds > 0) ||
    !Number.isSafeInteger(instances) ||
    instances < 1
  ) {
    console.error(USAGE);
    return 2;
  }
  if (instances > 1 && values.postgres === undefined) {
    console.error(`several instances share a PostgreSQL database: give --postgres\n${USAGE}`);
    return 2;
  }
  const started = performance.now();
  const progress = (line: string) =>
    console.error(`[${((performance.now() - started) / 1000).toFixed(1)} s] load: ${line}`);

  const dir = mkdtempSync(join(tmpdir(), 'lantern-load-'));
  const caDir = join(dir, 'ca');
  const ports = await Promise.all(Array.from({ length: instances }, () => freePort()));
  const urls = ports.map((port) => `http://127.0.0.1:${port}`);
  const schema: PostgresSchema | undefined =
    values.postgres === undefined
      ? undefined
      : await createPostgresSchema(values.postgres, 'lantern_load');
  const servers: CaProcess[] = [];
  try {
    const init = runNode(CA_CLI, [
      ...['init', '--data-dir', caDir, '--dev-root-in-data-dir', '--url', urls[0] ?? '', '--json'],
      ...(schema === undefined ? [] : ['--database', schema.url]),
    ]);
    if (init.status !== 0) throw new Error(`lantern-ca init failed: ${init.stderr}`);
    // The serving CA allows 60 enrollments a minute per client; the fleet is enrolled beforehand
    // through the same routes, in-process, on the same data dir.
    const devices = await enrollFleet(caDir, agents, progress);
    // Each further instance runs on a copy of the data dir, as on a host of its own.
    const dirs = ports.map((_, index) => (index === 0 ? caDir : join(dir, `ca-${index}`)));
    for (const copy of dirs.slice(1)) cpSync(caDir, copy, { recursive: true });
    servers.push(
      ...(await Promise.all(
        ports.map((port, index) =>
          startCaProcess(dirs[index] ?? caDir, port, ['--public-url', urls[index] ?? '']),
        ),
      )),
    );
    progress(
      `${instances} lantern-ca serve on ${schema === undefined ? 'SQLite' : `PostgreSQL (schema ${schema.name})`}`,
    );
    const pids = servers.map((server) => server.pid);
    const rss = pids.map((pid) => ({
      pid,
      peakKb: 0,
      startKb: procStatusKb(pid, 'VmRSS'),
      endKb: 0,
    }));
    // VmHWM is exact, but the process is gone once stopped: read it just before stopping.
    const sample = () => {
      for (const one of rss) one.peakKb = Math.max(one.peakKb, procStatusKb(one.pid, 'VmHWM'));
    };
    const sampler = setInterval(sample, 500);
    const stats: Stats = { rounds: 0, errors: new Map(), latencies: [], generated: 0 };
    const loadBefore = loadavg()[0] ?? 0;
    const deadline = performance.now() + seconds * 1000;
    const ticker = setInterval(() => {
      const failed = [...stats.errors.values()].reduce((a, b) => a + b, 0);
      progress(`${stats.rounds} rounds, ${failed} failed, ${stats.generated} events`);
    }, 10_000);
    const urlOf = (index: number) => urls[index % urls.length] ?? '';
    await Promise.all(
      devices.map(async (device, index) => {
        while (performance.now() < deadline) {
          await round(urlOf(index), device, stats, 1 + Math.floor(Math.random() * 10));
          await sleep(Math.random() * 1000);
        }
      }),
    );
    clearInterval(ticker);
    const loadDuring = loadavg()[0] ?? 0;
    // Drain: what failed is pushed again until the CA has acked every sequence.
    const drained = { rounds: 0 };
    for (const [index, device] of devices.entries()) {
      for (let attempt = 0; device.acked < device.seq && attempt < 20; attempt += 1) {
        await round(urlOf(index), device, stats, 0);
        drained.rounds += 1;
      }
    }
    clearInterval(sampler);
    sample();
    for (const one of rss) one.endKb = procStatusKb(one.pid, 'VmRSS');
    await Promise.all(servers.map((server) => server.stop()));

    const { stored, distinct } =
      schema === undefined ? await storedInSqlite(caDir) : await storedInPostgres(schema.url);
    const sorted = [...stats.latencies].sort((a, b) => a - b);
    const failed = [...stats.errors.values()].reduce((a, b) => a + b, 0);
    const unacked = devices.reduce((sum, device) => sum + (device.seq - device.acked), 0);
    const result = {
      agents,
      seconds,
      rounds: stats.rounds,
      roundsPerSecond: Math.round(stats.rounds / seconds),
      errorRate: stats.rounds === 0 ? 0 : failed / stats.rounds,
      errors: Object.fromEntries(stats.errors),
      latencyMs: {
        p50: quantile(sorted, 0.5),
        p95: quantile(sorted, 0.95),
        p99: quantile(sorted, 0.99),
        max: sorted.at(-1) ?? 0,
      },
      store: schema === undefined ? 'sqlite' : 'postgres',
      instances,
      caRssMb: rss.map((one) => ({
        start: Math.round(one.startKb / 1024),
        peak: Math.round(one.peakKb / 1024),
        end: Math.round(one.endKb / 1024),
        target: RSS_TARGET_MB,
        met: one.peakKb / 1024 <= RSS_TARGET_MB,
      })),
      events: { generated: stats.generated, stored, distinct, unacked },
      drainRounds: drained.rounds,
      loadAverage: { before: loadBefore, during: loadDuring },
    };
    const lost = stats.generated - distinct;
    const ok = lost === 0 && stored === distinct && unacked === 0;
    if (values.json) {
      console.log(JSON.stringify({ ...result, ok }));
    } else {
      console.log(
        [
          `load: ${agents} agents for ${seconds} s on ${instances} CA instance(s), ${result.store}: ${stats.rounds} sync rounds (${result.roundsPerSecond}/s), error rate ${(result.errorRate * 100).toFixed(2)} % ${JSON.stringify(result.errors)}`,
          `latency ms: p50 ${result.latencyMs.p50.toFixed(0)}, p95 ${result.latencyMs.p95.toFixed(0)}, p99 ${result.latencyMs.p99.toFixed(0)}, max ${result.latencyMs.max.toFixed(0)}`,
          ...result.caRssMb.map(
            (one, index) =>
              `CA ${index + 1} RSS MB: start ${one.start}, peak ${one.peak} (VmHWM), end ${one.end}; target peak <= ${RSS_TARGET_MB} MB: ${one.met ? 'met' : 'NO'}`,
          ),
          `events: generated ${stats.generated}, stored ${stored} (${distinct} distinct), unacked ${unacked}: ${ok ? 'none lost' : 'LOST OR DUPLICATED'}`,
          `load average (1 min): ${loadBefore.toFixed(1)} before, ${loadDuring.toFixed(1)} at the end`,
        ].join('\n'),
      );
    }
    return ok ? 0 : 1;
  } finally {
    await Promise.all(servers.map((server) => server.stop('SIGKILL')));
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const STORED_LOGINS = `SELECT count(*) AS rows, count(DISTINCT event_id) AS "distinct" FROM events
  WHERE event_type = 'identity.user.login_failed'`;

async function storedInSqlite(caDir: string): Promise<{ stored: number; distinct: number }> {
  const db = new Database(dataDirPaths(caDir).database, { readonly: true });
  try {
    const row = db.prepare<[], { rows: number; distinct: number }>(STORED_LOGINS).get();
    return { stored: row?.rows ?? 0, distinct: row?.distinct ?? 0 };
  } finally {
    db.close();
  }
}

async function storedInPostgres(url: string): Promise<{ stored: number; distinct: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const row = (await client.query<{ rows: string; distinct: string }>(STORED_LOGINS)).rows[0];
    return { stored: Number(row?.rows ?? 0), distinct: Number(row?.distinct ?? 0) };
  } finally {
    await client.end();
  }
}

async function enrollFleet(
  caDir: string,
  agents: number,
  progress: (line: string) => void,
): Promise<Device[]> {
  const opened = await openCa({
    dataDir: caDir,
    clock: systemClock,
    passphrase: readFileSync(dataDirPaths(caDir).passphraseFile, 'utf8').trim(),
    logger: createLogger({
      service: 'lantern-load',
      salt: 'load',
      level: 'error',
      destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
    }),
  });
  const app = await buildApp({ context: opened.context, enrollRateLimitPerMinute: 1e6 });
  const adminKey = readFileSync(dataDirPaths(caDir).adminApiKey, 'utf8').trim();
  try {
    const call = async (url: string, payload: Record<string, unknown>, status: number) => {
      const response = await app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${adminKey}` },
        payload,
      });
      if (response.statusCode !== status) throw new Error(`${url}: ${response.body}`);
      return response.json() as Record<string, string>;
    };
    const { tenantId = '' } = await call('/v1/admin/tenants', { name: 'Load School' }, 201);
    const devices: Device[] = [];
    for (let i = 0; i < agents; i += 1) {
      const { token = '' } = await call(
        '/v1/admin/enrollment-tokens',
        { tenant: tenantId, ttlSeconds: 3600 },
        201,
      );
      devices.push(
        await enrollDevice(token, (payload) => call('/v1/devices/enroll', payload, 201)),
      );
      if (devices.length % 50 === 0 || devices.length === agents) {
        progress(`enrolled ${devices.length}/${agents}`);
      }
    }
    return devices;
  } finally {
    await app.close();
    await opened.close();
  }
}

async function enrollDevice(
  token: string,
  post: (payload: Record<string, unknown>) => Promise<Record<string, unknown>>,
): Promise<Device> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const csr = await buildCsrPem({
    commonName: 'load device',
    subjectPublicKeyInfo: publicKey.export({ type: 'spki', format: 'der' }),
    sign: (data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'der' }),
  });
  const body = (await post({ enrollmentToken: token, csr })) as {
    deviceId: string;
    tenantId: string;
    chain: string[];
  };
  return {
    deviceId: body.deviceId,
    tenantId: body.tenantId,
    x5c: body.chain.map((pem) => fromPem(pem).toString('base64')),
    privateKey,
    seq: 0,
    acked: 0,
    cursor: 0,
    pending: [],
  };
}

/** One sync round: the pending events (or `fresh` new ones), timed from request to parsed answer. */
async function round(caUrl: string, device: Device, stats: Stats, fresh: number): Promise<void> {
  if (device.pending.length === 0) {
    for (let i = 0; i < fresh; i += 1) {
      device.seq += 1;
      device.pending.push({ seq: device.seq, event: loginFailed(device) });
      stats.generated += 1;
    }
  }
  const url = `${caUrl}/v1/sync`;
  const body = JSON.stringify({
    events: device.pending,
    revocationCursor: device.cursor,
    ...(device.jwksEtag === undefined ? {} : { jwksEtag: device.jwksEtag }),
  });
  const proof = createDeviceProof({
    method: 'POST',
    url,
    body,
    x5c: device.x5c,
    nowSeconds: Math.floor(Date.now() / 1000),
    sign: (data) => sign('sha256', data, { key: device.privateKey, dsaEncoding: 'ieee-p1363' }),
  });
  const start = performance.now();
  stats.rounds += 1;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [DEVICE_PROOF_HEADER]: proof },
      body,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    stats.latencies.push(performance.now() - start);
    if (response.status !== 200) {
      const code = (JSON.parse(text) as { code?: string }).code ?? `http_${response.status}`;
      stats.errors.set(code, (stats.errors.get(code) ?? 0) + 1);
      return;
    }
    const answer = JSON.parse(text) as {
      ack: number;
      jwksEtag: string;
      revocations: { next: number };
    };
    device.acked = answer.ack;
    device.cursor = answer.revocations.next;
    device.jwksEtag = answer.jwksEtag;
    device.pending = device.pending.filter((item) => item.seq > answer.ack);
  } catch (error) {
    const code = (error as Error).name === 'TimeoutError' ? 'timeout' : 'network';
    stats.errors.set(code, (stats.errors.get(code) ?? 0) + 1);
  }
}

function loginFailed(device: Device): Record<string, unknown> {
  const eventId = ids.next('evt');
  return {
    eventId,
    eventType: 'identity.user.login_failed',
    eventVersion: 1,
    occurredAt: new Date().toISOString(),
    tenantId: device.tenantId,
    actor: { type: 'device', id: device.deviceId },
    correlationId: eventId,
    partitionKey: device.deviceId,
    payload: { reason: 'invalid_credentials', offline: true, deviceId: device.deviceId },
  };
}

function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

process.exitCode = await main();
