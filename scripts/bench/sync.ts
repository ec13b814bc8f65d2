/**
 * Figure 6: delta sync, device → CA, over HTTP against real CAs in their own processes
 * (ca-server.ts).
 *
 * Ingest: a device pushes a backlog of offline `identity.user.logged_in` events (quick: 2,000;
 * full: 50,000) in rounds of 500, each round one `POST /v1/sync` with its own device proof, as
 * the agent does. Events/s from the first request to the last acknowledged response. Request
 * bodies are serialised before the clock starts (that is the device's work); the proof is made
 * per round. The baseline, measured in the same run, is the storage floor: the same rows
 * inserted into the same `events` schema, opened as the CA opens its store (`openDatabase`: WAL,
 * synchronous = FULL, the same pragmas and migrations) in
 * 500-row transactions by one prepared INSERT.
 *
 * `sync-postgres`: the same ingest against a CA whose store is PostgreSQL (a throwaway schema,
 * dropped at the end), against that store's floor: the same rows by the `pg` client, one
 * 500-row INSERT per commit, into a copy of the `events` table in the same schema
 * (postgres-floor.ts).
 *
 * History: the cost of one sync round pushing 10 new events, on a CA whose device has 1,000
 * events of history against one with 100,000 (quick: 10,000). Rounds alternate between the two;
 * medians. Must not grow with history (ratio <= 1.2).
 */
import type Database from 'better-sqlite3';
import { MAX_SYNC_BATCH, createIdGenerator, systemClock } from '@lantern/shared';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../../ca-service/src/data-dir/open-ca.js';
import type { SqliteDatabase } from '../../ca-service/src/store/sqlite-database.js';
import type { CaServerInfo } from './ca-server.js';
import { PostgresFloor, inBenchSchema } from './postgres-floor.js';
import type { EnrollResponse, EnrolledDevice } from './ca-setup.js';
import { deviceCsr, deviceKey, enrolledDevice } from './ca-setup.js';
import type { BenchContext, BenchResult, Benchmark, Child } from './harness.js';
import { median, ratioAtLeast, ratioAtMost, startChild } from './harness.js';

// A full push: the rounds are as large as the protocol allows.
const ROUND = MAX_SYNC_BATCH;
const ids = createIdGenerator();

interface Pusher {
  server: CaServerInfo;
  device: EnrolledDevice;
  /** Last sequence number pushed. */
  seq: number;
  jwksEtag?: string;
}

function signIn(server: CaServerInfo, device: EnrolledDevice) {
  const eventId = ids.next('evt');
  return {
    eventId,
    eventType: 'identity.user.logged_in',
    eventVersion: 1,
    occurredAt: new Date().toISOString(),
    tenantId: device.tenantId,
    actor: { type: 'device', id: device.deviceId },
    correlationId: eventId,
    partitionKey: device.deviceId,
    payload: {
      userId: server.userId,
      sessionId: ids.next('ses'),
      offline: true,
      deviceId: device.deviceId,
      amr: ['pwd'],
    },
  };
}

/** The next `count` events of the device as push bodies of at most ROUND events each. */
function bodies(pusher: Pusher, count: number): string[] {
  const out: string[] = [];
  for (let done = 0; done < count;) {
    const size = Math.min(ROUND, count - done);
    const events = Array.from({ length: size }, () => ({
      seq: ++pusher.seq,
      event: signIn(pusher.server, pusher.device),
    }));
    out.push(
      JSON.stringify({
        events,
        revocationCursor: 0,
        ...(pusher.jwksEtag ? { jwksEtag: pusher.jwksEtag } : {}),
      }),
    );
    done += size;
  }
  return out;
}

async function push(pusher: Pusher, body: string): Promise<void> {
  const send = () =>
    fetch(`${pusher.server.url}/v1/sync`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'lantern-device-proof': pusher.device.proof('POST', '/v1/sync', body),
      },
      body,
    });
  // A keep-alive socket the server closed while the body was being prepared fails the first
  // write ("fetch failed"); a push is idempotent (docs/architecture.md §5), so it is sent again, as the agent would.
  const response = await send().catch((error: unknown) => {
    if (error instanceof TypeError && error.message === 'fetch failed') return send();
    throw error;
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`sync answered ${response.status}: ${text}`);
  const result = JSON.parse(text) as { accepted: number; rejected: unknown[]; jwksEtag: string };
  if (result.rejected.length > 0) {
    throw new Error(`sync refused events: ${JSON.stringify(result.rejected).slice(0, 300)}`);
  }
  pusher.jwksEtag = result.jwksEtag;
}

async function enroll(server: CaServerInfo): Promise<EnrolledDevice> {
  const key = deviceKey();
  const response = await fetch(`${server.url}/v1/devices/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      enrollmentToken: server.enrollmentTokens[0],
      csr: await deviceCsr(key),
    }),
  });
  if (response.status !== 201) throw new Error(`enroll failed: ${await response.text()}`);
  return enrolledDevice(key, (await response.json()) as EnrollResponse);
}

/** Pushes `count` events (untimed), logging progress for long fills. */
async function fill(pusher: Pusher, count: number, log: (message: string) => void) {
  const start = performance.now();
  const all = bodies(pusher, count);
  for (let i = 0; i < all.length; i++) {
    await push(pusher, all[i] as string);
    if (i > 0 && i % 40 === 0) log(`  history fill: ${i * ROUND} / ${count}`);
  }
  return performance.now() - start;
}

const FLOOR_COLUMNS = [
  'position',
  'event_id',
  'event_type',
  'event_version',
  'aggregate_type',
  'aggregate_id',
  'aggregate_version',
  'tenant_id',
  'actor_type',
  'actor_id',
  'correlation_id',
  'causation_id',
  'occurred_at',
  'recorded_at',
  'payload',
  'hash',
];

/** `count` of the device's sign-ins as `events` rows (FLOOR_COLUMNS), positions after `last`. */
function floorRows(
  server: CaServerInfo,
  device: EnrolledDevice,
  count: number,
  last: number,
): unknown[][] {
  const rows: unknown[][] = [];
  const recordedAt = new Date().toISOString();
  for (let i = 1; i <= count; i++) {
    const event = signIn(server, device);
    rows.push([
      last + i,
      event.eventId,
      event.eventType,
      1,
      'user',
      server.userId,
      last + i,
      event.tenantId,
      'device',
      device.deviceId,
      event.correlationId,
      null,
      event.occurredAt,
      recordedAt,
      JSON.stringify(event.payload),
      'f'.repeat(64),
    ]);
  }
  return rows;
}

/** The storage floor, per store: `count` rows made untimed, then inserted; returns rows/s. */
interface Floor {
  store: string;
  run(count: number, device: EnrolledDevice): Promise<number>;
}

/** The same rows into the CA's `events` schema, 500 per transaction. */
class SqliteFloor implements Floor {
  readonly store = 'SQLite';
  private readonly dir: string;

  static async open(server: CaServerInfo): Promise<SqliteFloor> {
    const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-sqlite-'));
    // The CA's own opening (pragmas and migrations), so the floor has the CA's connection settings.
    const opened = await openDatabase(
      { engine: 'sqlite', path: join(dir, 'events.db') },
      systemClock,
    );
    return new SqliteFloor(server, dir, (opened as SqliteDatabase).raw);
  }
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private position = 0;

  private constructor(
    private readonly server: CaServerInfo,
    dir: string,
    db: Database.Database,
  ) {
    this.dir = dir;
    this.db = db;
    this.insert = this.db.prepare(
      `INSERT INTO events (${FLOOR_COLUMNS.join(', ')}) VALUES (${FLOOR_COLUMNS.map(() => '?').join(', ')})`,
    );
  }

  async run(count: number, device: EnrolledDevice): Promise<number> {
    const rows = floorRows(this.server, device, count, this.position);
    this.position += count;
    const batch = this.db.transaction((slice: unknown[][]) => {
      for (const row of slice) this.insert.run(...row);
    });
    const start = performance.now();
    for (let i = 0; i < rows.length; i += ROUND) batch(rows.slice(i, i + ROUND));
    return (count * 1000) / (performance.now() - start);
  }

  close(): void {
    this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The same rows into a copy of the CA's `events` table in its schema, one INSERT per 500. */
class PostgresIngestFloor implements Floor {
  readonly store = 'PostgreSQL';
  private position = 0;

  constructor(
    private readonly server: CaServerInfo,
    private readonly floor: PostgresFloor,
  ) {}

  run(count: number, device: EnrolledDevice): Promise<number> {
    const rows = floorRows(this.server, device, count, this.position);
    this.position += count;
    return this.floor.insert(FLOOR_COLUMNS, rows, ROUND);
  }
}

/**
 * `runs` backlogs pushed by `pusher` against as many floor runs of the same size, the order
 * alternating; events/s and rows/s per run.
 */
async function ingest(
  context: BenchContext,
  pusher: Pusher,
  floor: Floor,
  backlog: number,
  runs: number,
): Promise<{ ours: number[]; floor: number[] }> {
  const ours: number[] = [];
  const floorRates: number[] = [];
  for (let run = 0; run < runs; run++) {
    const measureOurs = async () => {
      const all = bodies(pusher, backlog);
      const start = performance.now();
      for (const body of all) await push(pusher, body);
      const rate = (backlog * 1000) / (performance.now() - start);
      ours.push(rate);
      context.log(`ingest run ${run + 1}: ${rate.toFixed(0)} events/s over HTTP`);
    };
    const measureFloor = async () => {
      const rate = await floor.run(backlog, pusher.device);
      floorRates.push(rate);
      context.log(`ingest run ${run + 1}: ${rate.toFixed(0)} rows/s ${floor.store} floor`);
    };
    if (run % 2 === 0) {
      await measureOurs();
      await measureFloor();
    } else {
      await measureFloor();
      await measureOurs();
    }
  }
  return { ours, floor: floorRates };
}

const INGEST_OURS =
  'POST /v1/sync rounds of 500 offline logged_in events, one device proof per round, until acked';

export const sync: Benchmark = {
  name: 'sync',
  title: 'Sync ingest over HTTP vs SQLite batched insert; sync cost vs history size',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const backlog = context.quick ? 2_000 : 50_000;
    const ingestRuns = context.quick ? 1 : 2;
    const smallHistory = 1_000;
    const largeHistory = context.quick ? 10_000 : 100_000;
    const children: Child<CaServerInfo>[] = [];
    let floor: SqliteFloor | undefined;
    try {
      const [large, small] = await Promise.all([
        startChild<CaServerInfo>('./ca-server.ts', { enrollmentTokens: 1 }),
        startChild<CaServerInfo>('./ca-server.ts', { enrollmentTokens: 1 }),
      ]);
      children.push(large, small);
      const big: Pusher = { server: large.ready, device: await enroll(large.ready), seq: 0 };
      const little: Pusher = { server: small.ready, device: await enroll(small.ready), seq: 0 };
      floor = await SqliteFloor.open(large.ready);

      // Warm-up: a few rounds on the small CA's device and a small floor batch, not counted.
      await fill(little, context.quick ? ROUND : 2 * ROUND, context.log);
      await floor.run(ROUND * 2, big.device);
      const measured = await ingest(context, big, floor, backlog, ingestRuns);

      // History: bring the devices to their sizes (untimed).
      if (big.seq < largeHistory) {
        const ms = await fill(big, largeHistory - big.seq, context.log);
        context.log(`history: large CA filled to ${big.seq} events in ${(ms / 1000).toFixed(1)} s`);
      }
      if (little.seq < smallHistory) await fill(little, smallHistory - little.seq, context.log);

      const round = async (pusher: Pusher) => {
        const [body] = bodies(pusher, 10);
        const start = performance.now();
        await push(pusher, body as string);
        return performance.now() - start;
      };
      for (let i = 0; i < 3; i++) {
        await round(little);
        await round(big);
      }
      const smallRounds: number[] = [];
      const largeRounds: number[] = [];
      for (let i = 0; i < (context.quick ? 5 : 25); i++) {
        if (i % 2 === 0) {
          smallRounds.push(await round(little));
          largeRounds.push(await round(big));
        } else {
          largeRounds.push(await round(big));
          smallRounds.push(await round(little));
        }
      }
      const smallMs = median(smallRounds);
      const largeMs = median(largeRounds);
      context.log(
        `history: 10-event round ${smallMs.toFixed(2)} ms at ${little.seq - 10 * smallRounds.length} events vs ${largeMs.toFixed(2)} ms at ${big.seq - 10 * largeRounds.length}`,
      );
      return [
        ratioAtLeast(
          `Sync ingest, backlog ${backlog.toLocaleString('en-US')} (HTTP, 500/round)`,
          'events/s',
          median(measured.ours),
          median(measured.floor),
          0.35,
          {
            ours: INGEST_OURS,
            baseline:
              'same rows, same events schema, INSERT in 500-row transactions, database opened as the CA opens it (openDatabase: WAL, synchronous=FULL)',
            oursRuns: measured.ours,
            baselineRuns: measured.floor,
          },
        ),
        ratioAtMost(
          `Sync of 10 new events: ${largeHistory.toLocaleString('en-US')} vs ${smallHistory.toLocaleString('en-US')} events of history`,
          'ms',
          largeMs,
          smallMs,
          1.2,
          {
            ours: `median round trip, device with ${largeHistory} events of history`,
            baseline: `the same with ${smallHistory} events of history (another CA, same run)`,
            largeRoundsMs: largeRounds,
            smallRoundsMs: smallRounds,
          },
        ),
      ];
    } finally {
      floor?.close();
      await Promise.all(children.map((child) => child.stop()));
    }
  },
};

export const syncPostgres: Benchmark = {
  name: 'sync-postgres',
  title: 'Sync ingest over HTTP, CA store on PostgreSQL, vs PostgreSQL batched INSERT',
  run: (context: BenchContext) =>
    inBenchSchema(async (url): Promise<BenchResult[]> => {
      const backlog = context.quick ? 2_000 : 50_000;
      const ingestRuns = context.quick ? 1 : 2;
      let server: Child<CaServerInfo> | undefined;
      let client: PostgresFloor | undefined;
      try {
        server = await startChild<CaServerInfo>('./ca-server.ts', {
          enrollmentTokens: 1,
          database: url,
        });
        const pusher: Pusher = { server: server.ready, device: await enroll(server.ready), seq: 0 };
        client = await PostgresFloor.open(url);
        const floor = new PostgresIngestFloor(server.ready, client);

        // Warm-up on the measured CA itself (its connection's named statements, its JIT), and a
        // small floor batch; not counted.
        await fill(pusher, context.quick ? ROUND : 2 * ROUND, context.log);
        await floor.run(ROUND * 2, pusher.device);
        const measured = await ingest(context, pusher, floor, backlog, ingestRuns);
        return [
          ratioAtLeast(
            `Sync ingest on PostgreSQL, backlog ${backlog.toLocaleString('en-US')} (HTTP, 500/round)`,
            'events/s',
            median(measured.ours),
            median(measured.floor),
            0.25,
            {
              ours: `${INGEST_OURS}; the CA's store in a PostgreSQL schema of its own`,
              baseline:
                'same rows by the pg client into floor_events (LIKE events INCLUDING ALL) in the same schema, one 500-row INSERT per commit',
              oursRuns: measured.ours,
              baselineRuns: measured.floor,
            },
          ),
        ];
      } finally {
        await server?.stop();
        await client?.close();
      }
    }),
};
