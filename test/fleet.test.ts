import { describe, expect, it } from 'vitest';
import { runFleet } from '../scripts/fleet/fleet-simulation.js';

/**
 * Issue 11 fleet simulation, small and seeded: invariants 1-3 and 6 hold over a week of 20
 * devices, the same seed gives the same report, and the end checks do catch a broken store.
 * The big run: `npm run fleet -- --devices 500 --days 30 --step-minutes 180 --signins-per-day 0.5 --syncs-per-day 1`.
 */
describe('fleet simulation', () => {
  it('catches an event lost at the CA and a broken hash chain', { timeout: 300_000 }, async () => {
    const report = await runFleet({
      devices: 4,
      days: 2,
      seed: 3,
      beforeChecks: async ({ ca, devices }) => {
        await ca.ctx.store.db
          .prepare(
            'DELETE FROM events WHERE position = (SELECT max(position) FROM events WHERE actor_id = ?)',
          )
          .run(devices[0]?.deviceId ?? '');
      },
    });
    expect(report.generated).toBeGreaterThan(0);
    expect(report.violations).toEqual({ event_lost: 1, hash_chain_broken: 1 });
  });

  it('the same seed gives the same report', { timeout: 300_000 }, async () => {
    const first = await runFleet({ devices: 5, days: 2, seed: 5 });
    const again = await runFleet({ devices: 5, days: 2, seed: 5 });
    expect(JSON.stringify(again)).toBe(JSON.stringify(first));
    const other = await runFleet({ devices: 5, days: 2, seed: 6 });
    expect(JSON.stringify(other)).not.toBe(JSON.stringify(first));
  });

  it('20 devices for 7 days: every invariant holds', { timeout: 300_000 }, async () => {
    const report = await runFleet({ devices: 20, days: 7, seed: 11 });
    console.log(`fleet seed 11: ${JSON.stringify(report)}`);
    expect(report.violations).toEqual({});
    expect(report.examples).toEqual([]);
    expect(report.delivered).toBe(report.generated - report.stranded);
    // The run exercised what the invariants are about.
    expect(report.signins.offlineOk).toBeGreaterThan(0);
    expect(report.signins.onlineOk).toBeGreaterThan(0);
    expect(report.signins.refused['device_revoked']).toBeGreaterThan(0);
    expect(report.signins.refused['clock_rollback']).toBeGreaterThan(0);
    expect(report.syncs.lostResponses).toBeGreaterThan(0);
    expect(report.duplicates).toBeGreaterThan(0);
    expect(report.crashes).toBeGreaterThan(0);
    expect(report.quarantined).toBeGreaterThan(0);
    // Some revoked sessions were checked while still unexpired: revocation is what ended them.
    const revokedReasons = Object.keys(report.revokedTokenChecks).filter(
      (reason) => reason.endsWith('_revoked') || reason === 'session_ended',
    );
    expect(revokedReasons.length).toBeGreaterThan(0);
    expect(report.revocations).toMatchObject({
      device: expect.any(Number),
      user: expect.any(Number),
      session: expect.any(Number),
    });
    expect(Math.min(...Object.values(report.revocations))).toBeGreaterThan(0);
  });
});
