import type { SqlDatabase } from '../store/sql-database.js';
import { statement } from '../store/statements.js';

/** The users with a second factor enrolled: an active TOTP or a passkey. */
export async function usersWithSecondFactor(db: SqlDatabase): Promise<Set<string>> {
  const rows = (await statement(
    db,
    `SELECT user_id FROM totp_credentials WHERE status = 'active'
     UNION SELECT user_id FROM user_passkeys`,
  ).all()) as { user_id: string }[];
  return new Set(rows.map((row) => row.user_id));
}
