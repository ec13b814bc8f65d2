import { PostgresError } from './postgres/postgres-error.js';

/** SQLSTATE 23505 on PostgreSQL; SQLITE_CONSTRAINT_PRIMARYKEY or _UNIQUE on SQLite. */
export function isUniqueViolation(error: unknown): boolean {
  if (error instanceof PostgresError) return error.code === '23505';
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
