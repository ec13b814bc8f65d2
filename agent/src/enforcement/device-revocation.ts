import type { AgentStore } from '../store/agent-store.js';
import { statement } from '../store/statements.js';

/**
 * What `status`, sign-in and `sync` say about a revoked device, read from the binding row that
 * enforcement keeps after the wipe. `keysDestroyed: false` means the wipe is still pending: the
 * outbox is being handed over and the keys go right after (see `shredDeviceKeys`).
 */
export type DeviceRevocationState =
  | { revoked: false }
  | { revoked: true; revokedAt: number; reason: string; keysDestroyedAt: number | null };

/** Null when the store holds no binding (not enrolled). */
export function readDeviceRevocation(store: AgentStore): DeviceRevocationState | null {
  const row = statement<
    [],
    { revokedAt: number | null; reason: string | null; keysDestroyedAt: number | null }
  >(
    store.db,
    `SELECT revoked_at AS revokedAt, revoke_reason AS reason, keys_destroyed_at AS keysDestroyedAt
       FROM binding WHERE id = 1`,
  ).get();
  if (!row) return null;
  if (row.revokedAt === null) return { revoked: false };
  return {
    revoked: true,
    revokedAt: row.revokedAt,
    reason: row.reason ?? 'unspecified',
    keysDestroyedAt: row.keysDestroyedAt,
  };
}
