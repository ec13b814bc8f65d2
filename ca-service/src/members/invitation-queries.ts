import type { Database } from 'better-sqlite3';
import { statement } from '../store/statements.js';

/** The invitations the user accepted. */
export function acceptedInvitationIds(db: Database, userId: string): string[] {
  const rows = statement(db, 'SELECT invitation_id FROM invitations WHERE user_id = ?').all(
    userId,
  ) as { invitation_id: string }[];
  return rows.map((row) => row.invitation_id);
}
