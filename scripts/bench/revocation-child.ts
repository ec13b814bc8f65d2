/**
 * Runs in its own process with --expose-gc (started by revocation.ts): fills an agent store's
 * `revocations` table, builds the RevocationIndex and, for comparison, a JS Set of "kind:id"
 * from the same rows, measures the heap each one keeps (after full GCs) and the checks per
 * second of both. Prints one JSON line.
 */
import { openAgentStore } from '@lantern/agent';
import { createIdGenerator, systemClock } from '@lantern/shared';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RevokedKind } from '../../agent/src/revocation/revocation-index.js';
import { RevocationIndex } from '../../agent/src/revocation/revocation-index.js';
import type { RunPlan } from './harness.js';
import { interleave, opsPerSecond } from './harness.js';

interface Argument {
  entries: number;
  plan: RunPlan;
}

export interface RevocationChildResult {
  entries: number;
  indexBytes: number;
  indexHeapMb: number;
  setHeapMb: number;
  indexTableMb: number;
  fillSeconds: number;
  indexBuildSeconds: number;
  setBuildSeconds: number;
  runs: Awaited<ReturnType<typeof interleave>>;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const argument = JSON.parse(process.argv[2] ?? '{}') as Argument;
const QUERIES = 1 << 16;
// What an agent's feed holds: mostly sessions, then grants, users, devices, certificates, keys.
const MIX: readonly [RevokedKind, number][] = [
  ['session', 0.7],
  ['grant', 0.1],
  ['user', 0.08],
  ['device', 0.05],
  ['certificate', 0.05],
  ['key', 0.02],
];
const ids = createIdGenerator(systemClock);
const PREFIX = { session: 'ses', grant: 'grt', user: 'usr', device: 'dev' } as const;

function subject(i: number): [RevokedKind, string] {
  const point = (i * 0.6180339887498949) % 1;
  let kind: RevokedKind = 'session';
  let acc = 0;
  for (const [candidate, share] of MIX) {
    acc += share;
    if (point < acc) {
      kind = candidate;
      break;
    }
  }
  if (kind === 'certificate') {
    return [kind, ids.next('evt').slice(4).toLowerCase().padEnd(32, '0').slice(0, 32)];
  }
  if (kind === 'key') return [kind, Buffer.from(ids.next('key')).toString('base64url')];
  return [kind, ids.next(PREFIX[kind])];
}

function heapNow(): number {
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

async function main(): Promise<RevocationChildResult> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-revocations-'));
  const store = openAgentStore(join(dir, 'agent.db'), { clock: systemClock });
  try {
    let start = process.hrtime.bigint();
    const insert = store.db.prepare(
      "INSERT INTO revocations (kind, subject_id, revoked_at, reason, feed_seq, received_at) VALUES (?, ?, ?, 'bench', ?, ?)",
    );
    const now = Date.now();
    // Grouped by kind, ids ascending (monotonic ULIDs): B-tree appends, a fill 3-4× faster.
    const byKind = new Map<RevokedKind, string[]>();
    for (let i = 0; i < argument.entries; i++) {
      const [kind, id] = subject(i);
      const list = byKind.get(kind) ?? [];
      list.push(id);
      byKind.set(kind, list);
    }
    store.transaction(() => {
      let seq = 0;
      for (const kind of [...byKind.keys()].sort()) {
        for (const id of (byKind.get(kind) ?? []).sort()) insert.run(kind, id, now, ++seq, now);
      }
    });
    byKind.clear();
    const fillSeconds = seconds(start);

    // Query subjects read back from SQLite, so they are strings no Set has hashed yet.
    const hits = store.db
      .prepare<[number], [RevokedKind, string]>(
        'SELECT kind, subject_id FROM revocations ORDER BY random() LIMIT ?',
      )
      .raw()
      .all(QUERIES);
    // Fewer rows than queries (quick mode): repeat them.
    for (let at = 0; hits.length < QUERIES; at++) hits.push(hits[at] as [RevokedKind, string]);
    const misses = Array.from({ length: QUERIES }, (_, i) => subject(i));

    let before = heapNow();
    start = process.hrtime.bigint();
    const index = RevocationIndex.fromDatabase(store.db);
    const indexBuildSeconds = seconds(start);
    const indexHeap = heapNow() - before;

    before = heapNow();
    start = process.hrtime.bigint();
    const set = new Set<string>();
    for (const [key] of store.db
      .prepare<[], [string]>("SELECT kind || ':' || subject_id FROM revocations")
      .raw()
      .iterate()) {
      set.add(key);
    }
    const setBuildSeconds = seconds(start);
    const setHeap = heapNow() - before;

    for (const [kind, id] of hits) {
      if (!index.has(kind, id) || !set.has(`${kind}:${id}`)) throw new Error('false negative');
    }
    for (const [kind, id] of misses) {
      if (index.has(kind, id) || set.has(`${kind}:${id}`)) throw new Error('false positive');
    }

    const mask = QUERIES - 1;
    let found = 0;
    let i = 0;
    const check =
      (
        queries: readonly [RevokedKind, string][],
        lookup: (kind: RevokedKind, id: string) => boolean,
      ) =>
      (ms: number) =>
        opsPerSecond(() => {
          const [kind, id] = queries[i++ & mask] as [RevokedKind, string];
          if (lookup(kind, id)) found += 1;
        }, ms);
    const indexHas = (kind: RevokedKind, id: string) => index.has(kind, id);
    const setHas = (kind: RevokedKind, id: string) => set.has(`${kind}:${id}`);
    const runs = await interleave(
      [
        { name: 'indexMiss', measure: check(misses, indexHas) },
        { name: 'setMiss', measure: check(misses, setHas) },
        { name: 'indexHit', measure: check(hits, indexHas) },
        { name: 'setHit', measure: check(hits, setHas) },
        {
          name: 'indexHitUnconfirmed',
          measure: check(hits, (kind, id) => index.mightHave(kind, id)),
        },
      ],
      argument.plan,
    );
    if (found === 0) throw new Error('no lookup found anything');
    return {
      entries: argument.entries,
      indexBytes: index.byteLength,
      indexHeapMb: indexHeap / 2 ** 20,
      setHeapMb: setHeap / 2 ** 20,
      indexTableMb: index.byteLength / 2 ** 20,
      fillSeconds,
      indexBuildSeconds,
      setBuildSeconds,
      runs,
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.stdout.write(`${JSON.stringify(await main())}\n`);
