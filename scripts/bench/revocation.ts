/**
 * Figure 4: revocation checks against 1,000,000 revoked subjects, with the agent's
 * RevocationIndex (agent/src/revocation/revocation-index.ts), against a JS Set of the same
 * "kind:id" keys, and the heap each keeps. Everything runs in a child process started with
 * --expose-gc (revocation-child.ts) so the heap deltas are taken after full collections.
 *
 * Rows: checks of subjects that are not revoked (the hot path: every token verification asks
 * about its session, user, device and grant, and almost none are revoked); checks of revoked
 * subjects, where the index's fingerprint match is confirmed by a SQLite primary-key lookup so
 * that the answer is exact; and the memory of the index.
 */
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { ratioAtLeast, startChild, valueBelow } from './harness.js';
import type { RevocationChildResult } from './revocation-child.js';

export const revocation: Benchmark = {
  name: 'revocation',
  title: 'Revocation check with 1,000,000 revoked entries vs JS Set.has',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const entries = context.quick ? 20_000 : 1_000_000;
    const child = await startChild<RevocationChildResult>(
      './revocation-child.ts',
      {
        entries,
        plan: context.quick
          ? { warmupMs: 10, runMs: 30, runs: 1 }
          : { warmupMs: 300, runMs: 500, runs: 7 },
      },
      ['--expose-gc'],
    );
    await child.stop();
    const result = child.ready;
    const median = (name: string) => result.runs[name]?.median ?? Number.NaN;
    const label = entries.toLocaleString('en-US');
    context.log(
      `revocation: ${label} rows filled in ${result.fillSeconds.toFixed(1)} s; index built in ${result.indexBuildSeconds.toFixed(2)} s (${result.indexHeapMb.toFixed(1)} MB), Set in ${result.setBuildSeconds.toFixed(2)} s (${result.setHeapMb.toFixed(1)} MB)`,
    );
    const common = {
      entries,
      baseline: "new Set(['kind:id', …]) from the same rows; check = set.has(`${kind}:${id}`)",
    };
    return [
      ratioAtLeast(
        `Revocation check, ${label} revoked: subject not revoked (hot path)`,
        '/s',
        median('indexMiss'),
        median('setMiss'),
        0.5,
        {
          ...common,
          ours: 'RevocationIndex.has(kind, id): fingerprint lookup, no match',
          runs: result.runs,
        },
      ),
      ratioAtLeast(
        `Revocation check, ${label} revoked: subject revoked (index lookup)`,
        '/s',
        median('indexHitUnconfirmed'),
        median('setHit'),
        0.5,
        {
          ...common,
          ours: 'RevocationIndex.mightHave(kind, id): fingerprint match (has() then reads the row, next line)',
          runs: result.runs,
        },
      ),
      {
        name: `  … revoked, exact: index + SQLite row read`,
        ours: median('indexHit'),
        baseline: median('setHit'),
        ratio: median('indexHit') / median('setHit'),
        target: '(context)',
        met: null,
        unit: '/s',
        details: {
          ...common,
          ours: 'RevocationIndex.has(kind, id) on a revoked subject: match, then SELECT by primary key',
          why: 'a match is confirmed in SQLite so a fingerprint collision can never refuse a live subject; a caller needs that row anyway (revoked_at decides which grants and tokens the revocation covers)',
        },
      },
      valueBelow(
        `Revocation index heap, ${label} entries`,
        'MB',
        result.indexHeapMb,
        result.setHeapMb,
        { label: 'heap', max: 32, inclusive: true },
        {
          ours: 'Δ(heapUsed + external) after GC for RevocationIndex.fromDatabase',
          baseline: 'the same for the Set of "kind:id" strings',
          tableBytes: result.indexBytes,
          indexBuildSeconds: result.indexBuildSeconds,
          setBuildSeconds: result.setBuildSeconds,
        },
      ),
    ];
  },
};
