import type { AgentStore } from '../store/agent-store.js';
import { statement } from '../store/statements.js';

/** The `sync_state` row: where this device stands in its sync with the CA. */
export interface SyncCursor {
  /** The last feed sequence applied here. */
  revocationCursor: number;
  /** The etag of the token keys last taken from a sync answer; null before the first. */
  jwksEtag: string | null;
  /** Trusted time of the last committed round. */
  lastSyncAt: number | null;
  /** The CA's signed time of the last committed round (epoch ms). */
  lastServerTime: number | null;
}

export function readSyncCursor(store: AgentStore): SyncCursor {
  const row = statement<[], SyncCursor>(
    store.db,
    `SELECT revocation_cursor AS revocationCursor, jwks_etag AS jwksEtag,
            last_sync_at AS lastSyncAt, last_server_time AS lastServerTime
     FROM sync_state WHERE id = 1`,
  ).get();
  if (!row) throw new Error('sync_state row missing: the store was not migrated');
  return row;
}

/**
 * Moves the cursor to `next`: past a page, in the transaction that applies its entries, or at
 * enrollment to the feed head the CA gave (nothing before it concerns this device). On a
 * hardware-tier store this write reseals the state (a TPM counter step), so callers make it
 * once per transaction, after the checks that could still abandon it.
 */
export function advanceRevocationCursor(store: AgentStore, next: number): void {
  store.db.prepare<[number]>('UPDATE sync_state SET revocation_cursor = ? WHERE id = 1').run(next);
}

/** The etag of the token keys just stored, so the CA sends them again only when they change. */
export function recordJwksEtag(store: AgentStore, etag: string): void {
  store.db.prepare<[string]>('UPDATE sync_state SET jwks_etag = ? WHERE id = 1').run(etag);
}

export function recordSyncTime(store: AgentStore, at: number, serverTime: number): void {
  store.db
    .prepare<[number, number]>(
      'UPDATE sync_state SET last_sync_at = ?, last_server_time = ? WHERE id = 1',
    )
    .run(at, serverTime);
}
