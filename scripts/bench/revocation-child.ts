/**
 * Runs in its own process (started by revocation.ts): fills an agent store's `revocations` table,
 * then measures the check the agent really runs, `RevocationState.find` (one statement for every
 * subject of a token: device, certificate, user, grant, session), against the same subjects
 * looked up one primary-key SELECT each. Prints one JSON line.
 */
import { type RevocationKind, RevocationState, openAgentStore } from '@lantern/agent';
import { createIdGenerator, systemClock } from '@lantern/shared';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunPlan } from './harness.js';
import { interleave, opsPerSecond } from './harness.js';

interface Argument {
  entries: number;
  plan: RunPlan;
}

export interface RevocationChildResult {
  entries: number;
  fillSeconds: number;
  runs: Awaited<ReturnType<typeof interleave>>;
}

type Query = Record<'device' | 'certificate' | 'user' | 'grant' | 'session', string>;

const argument = JSON.parse(process.argv[2] ?? '{}') as Argument;
const QUERIES = 1 << 12;
// What an agent's feed holds: mostly sessions, then grants, users, devices, certificates, keys.
const MIX: readonly [RevocationKind, number][] = [
  ['session', 0.7],
  ['grant', 0.1],
  ['user', 0.08],
  ['device', 0.05],
  ['certificate', 0.05],
  ['key', 0.02],
];
const ids = createIdGenerator(systemClock);
const PREFIX = { session: 'ses', grant: 'grt', user: 'usr', device: 'dev' } as const;

function subjectOf(kind: RevocationKind): string {
  if (kind === 'certificate') {
    return ids.next('evt').slice(4).toLowerCase().padEnd(32, '0').slice(0, 32);
  }
  if (kind === 'key') return Buffer.from(ids.next('key')).toString('base64url');
  return ids.next(PREFIX[kind]);
}

function kindAt(i: number): RevocationKind {
  const point = (i * 0.6180339887498949) % 1;
  let acc = 0;
  for (const [kind, share] of MIX) {
    acc += share;
    if (point < acc) return kind;
  }
  return 'session';
}

/** The subjects a session-token verification asks about (local-verifier.ts). */
const freshQuery = (): Query => ({
  device: subjectOf('device'),
  certificate: subjectOf('certificate'),
  user: subjectOf('user'),
  grant: subjectOf('grant'),
  session: subjectOf('session'),
});

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

async function main(): Promise<RevocationChildResult> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-revocations-'));
  const store = openAgentStore(join(dir, 'agent.db'), { clock: systemClock });
  try {
    const start = process.hrtime.bigint();
    const insert = store.db.prepare(
      "INSERT INTO revocations (kind, subject_id, revoked_at, reason, feed_seq, received_at) VALUES (?, ?, ?, 'bench', ?, ?)",
    );
    const now = Date.now();
    // Grouped by kind, ids ascending (monotonic ULIDs): B-tree appends, a fill 3-4× faster.
    const byKind = new Map<RevocationKind, string[]>();
    for (let i = 0; i < argument.entries; i++) {
      const kind = kindAt(i);
      const list = byKind.get(kind) ?? [];
      list.push(subjectOf(kind));
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

    // Misses: nothing revoked, the hot path. Hits: the same with a revoked session read back
    // from the table, the usual revocation an agent meets.
    const misses = Array.from({ length: QUERIES }, freshQuery);
    const revokedSessions = store.db
      .prepare<[number], string>(
        "SELECT subject_id FROM revocations WHERE kind = 'session' ORDER BY random() LIMIT ?",
      )
      .pluck()
      .all(QUERIES);
    const hits = misses.map((query, i) => ({
      ...query,
      session: revokedSessions[i % revokedSessions.length] as string,
    }));

    const state = new RevocationState(store);
    const point = store.db
      .prepare<[string, string], number>(
        'SELECT revoked_at FROM revocations WHERE kind = ? AND subject_id = ?',
      )
      .pluck();
    const onePerSubject = (query: Query): number => {
      let found = 0;
      for (const kind of ['device', 'certificate', 'user', 'grant', 'session'] as const) {
        if (point.get(kind, query[kind]) !== undefined) found += 1;
      }
      return found;
    };
    for (const query of misses) {
      if (Object.keys(state.find(query)).length !== 0 || onePerSubject(query) !== 0) {
        throw new Error('false positive');
      }
    }
    for (const query of hits) {
      if (state.find(query).session === undefined || onePerSubject(query) !== 1) {
        throw new Error('false negative');
      }
    }

    const mask = QUERIES - 1;
    let found = 0;
    let i = 0;
    const check = (queries: readonly Query[], lookup: (query: Query) => number) => (ms: number) =>
      opsPerSecond(() => {
        found += lookup(queries[i++ & mask] as Query);
      }, ms);
    const find = (query: Query) => Object.keys(state.find(query)).length;
    const runs = await interleave(
      [
        { name: 'findMiss', measure: check(misses, find) },
        { name: 'pointMiss', measure: check(misses, onePerSubject) },
        { name: 'findHit', measure: check(hits, find) },
        { name: 'pointHit', measure: check(hits, onePerSubject) },
      ],
      argument.plan,
    );
    if (found === 0) throw new Error('no lookup found anything');
    return { entries: argument.entries, fillSeconds, runs };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.stdout.write(`${JSON.stringify(await main())}\n`);
