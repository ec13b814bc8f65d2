import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '@lantern/shared';
import type { SyncRunOutcome } from '../sync/sync-client.js';

/** Whether the CA answered the daemon's last sync run; `unknown` before the first one. */
export type Connectivity = 'online' | 'offline' | 'unknown';

/** What the sign-in page and the desktop shell's tray say about sync (`GET /v1/sync/state`). */
export interface SyncState {
  connectivity: Connectivity;
  /** The last run drained the outbox and read the feed to its end. */
  completed: boolean;
  /** Events recorded here that the CA has not acknowledged, after the last run. */
  pending: number;
  lastRunAt: string | null;
  lastCompletedAt: string | null;
  /** The last run learned that this device was revoked. */
  revoked: boolean;
}

/**
 * The background sync's last outcome, as `serve` feeds it from `BackgroundSync.onRun`. Only an
 * unreachable CA counts as offline: a refusal or a bad answer came from a CA that answered.
 */
export class SyncStateTracker {
  private state: SyncState = {
    connectivity: 'unknown',
    completed: false,
    pending: 0,
    lastRunAt: null,
    lastCompletedAt: null,
    revoked: false,
  };

  constructor(private readonly clock: Clock) {}

  record(outcome: SyncRunOutcome): void {
    const now = new Date(this.clock.now()).toISOString();
    this.state = {
      connectivity: outcome.lastFailure?.reason === 'unreachable' ? 'offline' : 'online',
      completed: outcome.completed,
      pending: outcome.pending,
      lastRunAt: now,
      lastCompletedAt: outcome.completed ? now : this.state.lastCompletedAt,
      revoked: outcome.device.revoked,
    };
  }

  connectivity(): Connectivity {
    return this.state.connectivity;
  }

  current(): SyncState {
    return { ...this.state };
  }
}

/** `GET /v1/sync/state`, behind the local secret or the page session like every route. */
export function syncStateRoute(tracker: SyncStateTracker): FastifyPluginAsync {
  return async (app) => {
    app.get('/v1/sync/state', async () => tracker.current());
  };
}
