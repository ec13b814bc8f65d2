import type { SqlDatabase } from '../store/sql-database.js';
import { statement } from '../store/statements.js';

/** The invitations the user accepted. */
export function acceptedInvitationIds(db: SqlDatabase, userId: string): string[] {
  const rows = statement(db, 'SELECT invitation_id FROM invitations WHERE user_id = ?').all(
    userId,
  ) as { invitation_id: string }[];
  return rows.map((row) => row.invitation_id);
}
