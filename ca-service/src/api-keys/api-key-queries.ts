import type { SqlDatabase } from '../store/sql-database.js';
import { statement } from '../store/statements.js';

/** What decides whether a key still works, or undefined for a key the CA never issued. */
export async function apiKeyStanding(
  db: SqlDatabase,
  keyId: string,
): Promise<
  | { tenant_id: string; scopes: string; expires_at: string | null; revoked_at: string | null }
  | undefined
> {
  return (await statement(
    db,
    'SELECT tenant_id, scopes, expires_at, revoked_at FROM api_keys WHERE key_id = ?',
  ).get(keyId)) as
    | { tenant_id: string; scopes: string; expires_at: string | null; revoked_at: string | null }
    | undefined;
}

/** Keys usable at `now` (not revoked, not expired) that were created at or before `createdBy`. */
export async function countUsableKeysCreatedBy(
  db: SqlDatabase,
  now: string,
  createdBy: string,
): Promise<number> {
  const row = (await statement(
    db,
    'SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) AND created_at <= ?',
  ).get(now, createdBy)) as { n: number };
  return row.n;
}
