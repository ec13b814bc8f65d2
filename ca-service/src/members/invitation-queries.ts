import type { SqlDatabase } from '../store/sql-database.js';
import { statement } from '../store/statements.js';

/** The invitations the user accepted. */
export async function acceptedInvitationIds(db: SqlDatabase, userId: string): Promise<string[]> {
  const rows = (await statement(db, 'SELECT invitation_id FROM invitations WHERE user_id = ?').all(
    userId,
  )) as { invitation_id: string }[];
  return rows.map((row) => row.invitation_id);
}
