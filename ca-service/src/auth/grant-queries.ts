import type { SqlDatabase } from '../store/sql-database.js';
import { statement } from '../store/statements.js';

export async function activeGrantsOfUser(
  db: SqlDatabase,
  userId: string,
): Promise<{ grant_id: string }[]> {
  return (await statement(
    db,
    "SELECT grant_id FROM grants WHERE user_id = ? AND status = 'active'",
  ).all(userId)) as { grant_id: string }[];
}

/** The latest `offline_until` of the user's grants on the device (revoked ones too), or null. */
export async function latestGrantExpiry(
  db: SqlDatabase,
  userId: string,
  deviceId: string,
): Promise<string | null> {
  const row = (await statement(
    db,
    'SELECT MAX(offline_until) AS until FROM grants WHERE user_id = ? AND device_id = ?',
  ).get(userId, deviceId)) as { until: string | null } | undefined;
  return row?.until ?? null;
}

/** Grants issued on the device whose methods include `totp` (each carried the sealed secret). */
export async function totpGrantsOnDevice(
  db: SqlDatabase,
  deviceId: string,
): Promise<{ user_id: string; issued_at: string }[]> {
  return (await statement(
    db,
    `SELECT user_id, issued_at FROM grants
     WHERE device_id = ? AND EXISTS (SELECT 1 FROM json_each(methods) WHERE value = 'totp')`,
  ).all(deviceId)) as { user_id: string; issued_at: string }[];
}
