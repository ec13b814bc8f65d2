import { describe, expect, it } from 'vitest';
import { crashLoopFailures, runCrashLoop } from '../scripts/fleet/crash-loop.js';

/**
 * Issue 11 crash tests, short loop: `lantern-ca serve` killed with SIGKILL inside agents' sync
 * commits and `lantern-agent sync` killed inside apply, then restarted; invariant 3, the feed
 * cursors, integrity_check on both sides and the CA's hash chain still hold. The long loop is
 * `npm run crash-loop -- --iterations 50`.
 */
describe('crash loop', () => {
  it(
    'every kill -9 leaves events exactly once and both stores sound',
    { timeout: 300_000 },
    async () => {
      const report = await runCrashLoop({
        iterations: 3,
        agents: 2,
        eventsPerFill: 300,
        feedEntriesPerIteration: 20,
      });
      console.log(`crash-loop: ${JSON.stringify(report)}`);
      expect(crashLoopFailures(report)).toEqual([]);
      expect(report.caKills).toBe(3);
      expect(report.killsAfterACommit).toBeGreaterThan(0);
      expect(report.eventsStored).toBe(report.eventsRecorded);
      expect(report.chain.checked).toBeGreaterThan(report.eventsRecorded);
    },
  );

  it('reports what it would call a failure', () => {
    const sound = {
      iterations: 1,
      agents: 1,
      caKills: 1,
      agentKills: 1,
      killsAfterACommit: 1,
      eventsRecorded: 10,
      eventsStored: 10,
      duplicated: 0,
      lost: 0,
      feedEntries: 1,
      cursorsBehind: 0,
      integrity: { ca: 'ok', agents: ['ok'] },
      chain: { ok: true, checked: 20 },
      finalSync: { ok: 1, failed: [] },
    };
    expect(crashLoopFailures(sound)).toEqual([]);
    expect(
      crashLoopFailures({
        ...sound,
        lost: 1,
        duplicated: 2,
        integrity: { ca: 'row 3 missing from index', agents: ['ok'] },
        chain: { ok: false, checked: 3, reason: 'position 4 is missing' },
      }),
    ).toEqual([
      '1 event(s) lost',
      '2 event(s) stored twice',
      'CA integrity_check: row 3 missing from index',
      'hash chain: position 4 is missing',
    ]);
  });
});
