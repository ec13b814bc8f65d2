/**
 * Figure 4: the agent's revocation check with 1,000,000 revoked subjects in its store, as token
 * verification and offline sign-in run it: `RevocationState.find`
 * (agent/src/verify/revocation-state.ts), one statement asking about the token's device,
 * certificate, user, grant and session. Baseline: the same five subjects looked up one
 * primary-key SELECT each on the same table, the plain way to ask SQLite. Runs in a child
 * process (revocation-child.ts) so the million-row fill leaves nothing in the runner's heap.
 *
 * Rows: a token whose subjects are not revoked (the hot path: almost none are), and one whose
 * session is revoked.
 */
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { ratioAtLeast, startChild } from './harness.js';
import type { RevocationChildResult } from './revocation-child.js';

export const revocation: Benchmark = {
  name: 'revocation',
  title: 'Agent revocation check (RevocationState.find) with 1,000,000 revoked vs point SELECTs',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const entries = context.quick ? 20_000 : 1_000_000;
    const child = await startChild<RevocationChildResult>('./revocation-child.ts', {
      entries,
      plan: context.quick
        ? { warmupMs: 10, runMs: 30, runs: 1 }
        : { warmupMs: 300, runMs: 500, runs: 7 },
    });
    await child.stop();
    const result = child.ready;
    const median = (name: string) => result.runs[name]?.median ?? Number.NaN;
    const label = entries.toLocaleString('en-US');
    context.log(`revocation: ${label} rows filled in ${result.fillSeconds.toFixed(1)} s`);
    const details = {
      entries,
      ours: 'RevocationState.find({ device, certificate, user, grant, session }): one statement',
      baseline:
        "five prepared 'SELECT revoked_at FROM revocations WHERE kind = ? AND subject_id = ?' calls",
      runs: result.runs,
    };
    return [
      ratioAtLeast(
        `Revocation check, ${label} revoked: nothing revoked (hot path)`,
        'checks/s',
        median('findMiss'),
        median('pointMiss'),
        1,
        details,
      ),
      ratioAtLeast(
        `Revocation check, ${label} revoked: session revoked`,
        'checks/s',
        median('findHit'),
        median('pointHit'),
        1,
        details,
      ),
    ];
  },
};
