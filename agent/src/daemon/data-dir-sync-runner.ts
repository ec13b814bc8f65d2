import type { Clock } from '@lantern/shared';
import { openAgent } from '../data-dir/open-agent.js';
import { SyncClient } from '../sync/sync-client.js';
import type { SyncRunner } from './background-sync.js';

/**
 * The background sync of `lantern-agent serve`: each run opens the data directory afresh, so a
 * `lantern-agent sync` in another process, a re-enrollment or a wipe is always seen as it is.
 */
export function dataDirSyncRunner(dataDir: string, clock: Clock): SyncRunner {
  const withClient = async <T>(use: (client: SyncClient) => Promise<T>): Promise<T> => {
    const agent = await openAgent({ dataDir, clock });
    try {
      return await use(new SyncClient({ agent }));
    } finally {
      agent.close();
    }
  };
  return {
    run: () => withClient((client) => client.run({ maxConsecutiveFailures: 2 })),
    probe: () => withClient((client) => client.probe()),
  };
}
