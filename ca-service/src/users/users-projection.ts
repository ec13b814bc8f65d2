import type { SqlReader } from '../store/sql-database.js';
import type { Projection } from '../store/event-store.js';
import { openPersonalData } from './personal-data.js';
import type { PersonalData } from './personal-data.js';
import { statement } from '../store/statements.js';
import { deviceReport } from '../sync/device-receipts.js';

type PersonalFields = Partial<PersonalData>;

/**
 * v2 events carry personal fields sealed per user; v1 events in clear. Once a user is erased
 * their key is gone and a replay yields the anonymised placeholder instead.
 */
async function personalFields(
  db: SqlReader,
  payload: PersonalFields & { userId: string; personalData?: string },
): Promise<PersonalFields> {
  const sealed = payload.personalData;
  if (typeof sealed !== 'string') return payload;
  return (
    (await openPersonalData(db, payload.userId, sealed)) ?? { username: `erased:${payload.userId}` }
  );
}

/** Users with their lockout counters: the counter lives here because it is derived from events. */
export const usersProjection: Projection = {
  name: 'users',
  tables: ['users'],
  events: new Set([
    'identity.user.email_verified',
    'identity.user.erased',
    'identity.user.locked',
    'identity.user.logged_in',
    'identity.user.login_failed',
    'identity.user.reactivated',
    'identity.user.registered',
    'identity.user.suspended',
    'identity.user.unlocked',
    'identity.user.updated',
  ]),
  async apply(db, event) {
    const at = event.occurredAt;
    switch (event.eventType) {
      case 'identity.user.registered': {
        const { userId, role, status } = event.payload;
        const personal = await personalFields(db, event.payload);
        statement(
          db,
          `INSERT INTO users (user_id, tenant_id, username, role, email, display_name, status, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          userId,
          event.tenantId,
          personal.username,
          role,
          personal.email ?? null,
          personal.displayName ?? null,
          status,
          'createdAt' in event.payload ? event.payload.createdAt : at,
          at,
        );
        break;
      }
      case 'identity.user.updated': {
        const { userId, role } = event.payload;
        const personal = await personalFields(db, event.payload);
        statement(
          db,
          `UPDATE users SET role = COALESCE(?, role), email = COALESCE(?, email),
           display_name = COALESCE(?, display_name), updated_at = ? WHERE user_id = ?`,
        ).run(role ?? null, personal.email ?? null, personal.displayName ?? null, at, userId);
        break;
      }
      case 'identity.user.email_verified':
        statement(
          db,
          "UPDATE users SET status = 'active', updated_at = ? WHERE user_id = ? AND status = 'pending_verification'",
        ).run(at, event.payload.userId);
        break;
      case 'identity.user.login_failed': {
        const { userId, offline, failureCount } = event.payload;
        if (userId === undefined || offline === true) break;
        if ((await deviceReport(db, event.eventId)) !== undefined) break;
        statement(
          db,
          `UPDATE users SET failure_count = ?, failure_window_start = CASE WHEN ? = 1 THEN ? ELSE failure_window_start END,
           updated_at = ? WHERE user_id = ?`,
        ).run(failureCount ?? 1, failureCount ?? 1, at, at, userId);
        break;
      }
      case 'identity.user.locked':
        if (event.payload.offline === true || (await deviceReport(db, event.eventId)) !== undefined)
          break;
        statement(db, 'UPDATE users SET locked_until = ?, updated_at = ? WHERE user_id = ?').run(
          event.payload.lockedUntil ?? '9999-12-31T23:59:59.999Z',
          at,
          event.payload.userId,
        );
        break;
      case 'identity.user.unlocked':
        statement(
          db,
          'UPDATE users SET locked_until = NULL, failure_count = 0, failure_window_start = NULL, updated_at = ? WHERE user_id = ?',
        ).run(at, event.payload.userId);
        break;
      case 'identity.user.logged_in':
        if (event.payload.offline === true || (await deviceReport(db, event.eventId)) !== undefined)
          break;
        statement(
          db,
          'UPDATE users SET failure_count = 0, failure_window_start = NULL, updated_at = ? WHERE user_id = ?',
        ).run(event.payload.at, event.payload.userId);
        break;
      case 'identity.user.suspended':
        statement(
          db,
          "UPDATE users SET status = 'suspended', updated_at = ? WHERE user_id = ?",
        ).run(at, event.payload.userId);
        break;
      case 'identity.user.reactivated':
        statement(db, "UPDATE users SET status = 'active', updated_at = ? WHERE user_id = ?").run(
          at,
          event.payload.userId,
        );
        break;
      case 'identity.user.erased': {
        const { userId } = event.payload;
        statement(
          db,
          `UPDATE users SET status = 'erased', username = ?, email = NULL, display_name = NULL, updated_at = ?
           WHERE user_id = ?`,
        ).run(`erased:${userId}`, at, userId);
        break;
      }
    }
  },
};
