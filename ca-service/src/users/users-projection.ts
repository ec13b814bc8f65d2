import type { Database } from 'better-sqlite3';
import type { Projection } from '../store/event-store.js';
import { openPersonalData } from './personal-data.js';
import { statement } from '../store/statements.js';
import { deviceReport } from '../store/device-receipts.js';

/**
 * v2 events carry personal fields sealed per user; v1 events in clear. Once a user is erased
 * their key is gone and a replay yields the anonymised placeholder instead.
 */
function withPersonalData(
  db: Database,
  userId: string | undefined,
  payload: Record<string, unknown>,
): Record<string, unknown> {
  const sealed = payload['personalData'];
  if (typeof sealed !== 'string' || userId === undefined) return payload;
  const opened = openPersonalData(db, userId, sealed) ?? { username: `erased:${userId}` };
  return { ...payload, ...opened };
}

/** Users with their lockout counters: the counter lives here because it is derived from events. */
export const usersProjection: Projection = {
  name: 'users',
  tables: ['users'],
  apply(db, event) {
    const userId = event.payload['userId'] as string | undefined;
    const p = withPersonalData(db, userId, event.payload);
    const at = event.occurredAt;
    switch (event.eventType) {
      case 'identity.user.registered':
        statement(
          db,
          `INSERT INTO users (user_id, tenant_id, username, role, email, display_name, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          userId,
          event.tenantId,
          p['username'],
          p['role'],
          p['email'] ?? null,
          p['displayName'] ?? null,
          p['status'],
          at,
          at,
        );
        break;
      case 'identity.user.updated':
        statement(
          db,
          `UPDATE users SET role = COALESCE(?, role), email = COALESCE(?, email),
           display_name = COALESCE(?, display_name), updated_at = ? WHERE user_id = ?`,
        ).run(p['role'] ?? null, p['email'] ?? null, p['displayName'] ?? null, at, userId);
        break;
      case 'identity.user.email_verified':
        statement(
          db,
          "UPDATE users SET status = 'active', updated_at = ? WHERE user_id = ? AND status = 'pending_verification'",
        ).run(at, userId);
        break;
      case 'identity.user.login_failed':
        if (userId === undefined || p['offline'] === true) break;
        if (deviceReport(db, event.eventId) !== undefined) break;
        statement(
          db,
          `UPDATE users SET failure_count = ?, failure_window_start = CASE WHEN ? = 1 THEN ? ELSE failure_window_start END,
           updated_at = ? WHERE user_id = ?`,
        ).run(p['failureCount'] ?? 1, p['failureCount'] ?? 1, at, at, userId);
        break;
      case 'identity.user.locked':
        if (p['offline'] === true || deviceReport(db, event.eventId) !== undefined) break;
        statement(db, 'UPDATE users SET locked_until = ?, updated_at = ? WHERE user_id = ?').run(
          p['lockedUntil'] ?? '9999-12-31T23:59:59.999Z',
          at,
          userId,
        );
        break;
      case 'identity.user.unlocked':
        statement(
          db,
          'UPDATE users SET locked_until = NULL, failure_count = 0, failure_window_start = NULL, updated_at = ? WHERE user_id = ?',
        ).run(at, userId);
        break;
      case 'identity.user.logged_in':
        if (p['offline'] === true || deviceReport(db, event.eventId) !== undefined) break;
        statement(
          db,
          'UPDATE users SET failure_count = 0, failure_window_start = NULL, updated_at = ? WHERE user_id = ?',
        ).run(at, userId);
        break;
      case 'identity.user.suspended':
        statement(
          db,
          "UPDATE users SET status = 'suspended', updated_at = ? WHERE user_id = ?",
        ).run(at, userId);
        break;
      case 'identity.user.reactivated':
        statement(db, "UPDATE users SET status = 'active', updated_at = ? WHERE user_id = ?").run(
          at,
          userId,
        );
        break;
      case 'identity.user.erased':
        statement(
          db,
          `UPDATE users SET status = 'erased', username = ?, email = NULL, display_name = NULL, updated_at = ?
           WHERE user_id = ?`,
        ).run(`erased:${userId}`, at, userId);
        break;
    }
  },
};
