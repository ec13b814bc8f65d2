import type { SqlDatabase, SqlReader } from '../store/sql-database.js';
import { statement } from '../store/statements.js';

/**
 * Whether an event came from a device's push, and whether it may have an effect (pushed while
 * the device was active) or is a record only (`recorded`: pushed after its revocation). The
 * receipt is written in the same transaction, before the append, so projections of CA-side
 * state can tell, on a rebuild too. A `duplicate` receipt names an event someone else stored.
 */
export async function deviceReport(
  db: SqlReader,
  eventId: string,
): Promise<'effective' | 'inert' | undefined> {
  const row = (await statement(
    db,
    "SELECT outcome FROM device_event_receipts WHERE event_id = ? AND outcome IN ('stored', 'recorded') LIMIT 1",
  ).get(eventId)) as { outcome: string } | undefined;
  if (row === undefined) return undefined;
  return row.outcome === 'stored' ? 'effective' : 'inert';
}

/** When each of `deviceIds` last pushed an event, for those that ever did. */
export async function lastReceivedAt(
  db: SqlDatabase,
  deviceIds: readonly string[],
): Promise<Map<string, string>> {
  // A primary-key probe per device, as a subquery per element (a join's cached PostgreSQL plan
  // may be a scan made while the table was small).
  const rows = (await statement(
    db,
    `SELECT device.value AS device_id,
     (SELECT state.last_received_at FROM device_sync_state AS state
      WHERE state.device_id = device.value) AS received_at
     FROM json_each(?) AS device`,
  ).all(JSON.stringify(deviceIds))) as { device_id: string; received_at: string | null }[];
  const received = new Map<string, string>();
  for (const row of rows)
    if (row.received_at !== null) received.set(row.device_id, row.received_at);
  return received;
}
