import type { Clock } from '@lantern/shared';
import { openAgent } from '../data-dir/open-agent.js';
import type { RenewalOutcome, RenewalStep } from '../renewal/renew-binding.js';
import { renewBinding } from '../renewal/renew-binding.js';
import { SyncClient } from '../sync/sync-client.js';
import type { SyncRunner } from './background-sync.js';

export interface DataDirSyncHooks {
  /** A renewal that ran (renewed or not due); its failure goes to `onError` of the scheduler. */
  onRenewal?: (outcome: RenewalOutcome) => void;
  onRenewalStep?: (step: RenewalStep) => void;
  onRenewalError?: (error: unknown) => void;
}

/**
 * The background sync of `lantern-agent serve`: each run opens the data directory afresh, so a
 * `lantern-agent sync` in another process, a re-enrollment or a wipe is always seen as it is.
 * Each run first renews the binding once it is due (docs/architecture.md §3.4): an expired certificate, still
 * within the grace period, could not sign the sync proof. A failed renewal does not stop the
 * sync: the old certificate is still good until it expires, and the next run tries again.
 */
export function dataDirSyncRunner(
  dataDir: string,
  clock: Clock,
  hooks: DataDirSyncHooks = {},
): SyncRunner {
  const withClient = async <T>(use: (client: SyncClient) => Promise<T>): Promise<T> => {
    const agent = await openAgent({ dataDir, clock });
    try {
      return await use(new SyncClient({ agent }));
    } finally {
      agent.close();
    }
  };
  const renewIfDue = async (): Promise<void> => {
    try {
      const outcome = await renewBinding({
        dataDir,
        clock,
        when: 'when_due',
        ...(hooks.onRenewalStep ? { onStep: hooks.onRenewalStep } : {}),
      });
      hooks.onRenewal?.(outcome);
    } catch (error) {
      hooks.onRenewalError?.(error);
    }
  };
  return {
    run: async () => {
      await renewIfDue();
      const outcome = await withClient((client) => client.run({ maxConsecutiveFailures: 2 }));
      // Once more after a sync: its signed server time may have moved trusted time (a clock set
      // back) into the renewal window the check before it could not see.
      if (outcome.completed && !outcome.device.revoked) await renewIfDue();
      return outcome;
    },
    probe: () => withClient((client) => client.probe()),
  };
}
