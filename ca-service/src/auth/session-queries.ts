import type { SqlDatabase } from '../store/sql-database.js';
import { statement } from '../store/statements.js';

/** A session's status, or undefined for a session the CA never recorded. */
export async function sessionStatus(
  db: SqlDatabase,
  sessionId: string,
): Promise<string | undefined> {
  const row = (await statement(db, 'SELECT status FROM sessions WHERE session_id = ?').get(
    sessionId,
  )) as { status: string } | undefined;
  return row?.status;
}

/** Where a session was created and for whom, or undefined for an unknown session. */
export async function sessionOrigin(
  db: SqlDatabase,
  sessionId: string,
): Promise<{ device_id: string | null; user_id: string } | undefined> {
  return (await statement(db, 'SELECT device_id, user_id FROM sessions WHERE session_id = ?').get(
    sessionId,
  )) as { device_id: string | null; user_id: string } | undefined;
}

/** Sessions that are active and not expired at `now`, counted by tenant (tenants without one absent). */
export async function activeSessionCounts(
  db: SqlDatabase,
  now: string,
): Promise<Map<string, number>> {
  const rows = (await statement(
    db,
    "SELECT tenant_id, COUNT(*) AS n FROM sessions WHERE status = 'active' AND expires_at > ? GROUP BY tenant_id",
  ).all(now)) as { tenant_id: string; n: number }[];
  return new Map(rows.map((row) => [row.tenant_id, row.n]));
}

export async function activeSessionsOfUser(
  db: SqlDatabase,
  userId: string,
): Promise<{ session_id: string; device_id: string | null }[]> {
  return (await statement(
    db,
    "SELECT session_id, device_id FROM sessions WHERE user_id = ? AND status = 'active'",
  ).all(userId)) as { session_id: string; device_id: string | null }[];
}

/** Every refresh token of every session of the user, whatever the session's status. */
export async function revokeRefreshTokensOfUser(db: SqlDatabase, userId: string): Promise<void> {
  await statement(
    db,
    "UPDATE refresh_tokens SET status = 'revoked' WHERE session_id IN (SELECT session_id FROM sessions WHERE user_id = ?)",
  ).run(userId);
}

/**
 * Whether the CA itself recorded the user signing in on the device: an active grant there, or
 * an active online session (an offline one the device reported proves nothing).
 */
export async function signedInOnDevice(
  db: SqlDatabase,
  userId: string,
  deviceId: string,
): Promise<boolean> {
  const found = await statement(
    db,
    `SELECT 1 FROM grants WHERE user_id = ? AND device_id = ? AND status = 'active'
     UNION ALL SELECT 1 FROM sessions WHERE user_id = ? AND device_id = ? AND offline = 0 AND status = 'active'
     LIMIT 1`,
  ).get(userId, deviceId, userId, deviceId);
  return found !== undefined;
}

/** Who had a session on each of the devices, in the order of their first session there. */
export async function sessionUsersOnDevices(
  db: SqlDatabase,
  deviceIds: readonly string[],
): Promise<{ device_id: string; user_id: string }[]> {
  return (await statement(
    db,
    `SELECT device_id, user_id FROM sessions
     WHERE device_id IN (SELECT value FROM json_each(?))
     GROUP BY device_id, user_id ORDER BY MIN(created_at), user_id`,
  ).all(JSON.stringify(deviceIds))) as { device_id: string; user_id: string }[];
}
