import type { SqlDatabase } from '../store/sql-database.js';
import { statement } from '../store/statements.js';

/**
 * Whether an event came from a device's push, and whether it may have an effect (pushed while
 * the device was active) or is a record only (`recorded`: pushed after its revocation). The
 * receipt is written in the same transaction, before the append, so projections of CA-side
 * state can tell, on a rebuild too. A `duplicate` receipt names an event someone else stored.
 */
export function deviceReport(db: SqlDatabase, eventId: string): 'effective' | 'inert' | undefined {
  const row = statement(
    db,
    "SELECT outcome FROM device_event_receipts WHERE event_id = ? AND outcome IN ('stored', 'recorded') LIMIT 1",
  ).get(eventId) as { outcome: string } | undefined;
  if (row === undefined) return undefined;
  return row.outcome === 'stored' ? 'effective' : 'inert';
}

/** When each of `deviceIds` last pushed an event, for those that ever did. */
export function lastReceivedAt(db: SqlDatabase, deviceIds: readonly string[]): Map<string, string> {
  const rows = statement(
    db,
    `SELECT receipt.device_id, MAX(receipt.received_at) AS received_at FROM json_each(?) AS device
     CROSS JOIN device_event_receipts AS receipt ON receipt.device_id = device.value
     GROUP BY receipt.device_id`,
  ).all(JSON.stringify(deviceIds)) as { device_id: string; received_at: string }[];
  return new Map(rows.map((row) => [row.device_id, row.received_at]));
}
