import type Database from 'better-sqlite3';
import type { SqlDatabase } from './sql-database.js';
import { SqliteDatabase } from './sqlite-database.js';

const PROBE_ROW =
  "INSERT INTO schema_migrations (version, applied_at) VALUES (-1, 'readiness probe')";

class ProbeRolledBack extends Error {}

/**
 * A real write, rolled back: takes the write lock and inserts a row, so a read-only file, a
 * closed handle or a lock held elsewhere fails the check (on SQLite waiting at most 250 ms, not
 * the store's busy timeout; on PostgreSQL at most its lock timeout for the writers' turn). Never
 * nests into a transaction in progress.
 */
export async function storeAcceptsWrites(db: SqlDatabase): Promise<boolean> {
  if (!db.open) return false;
  if (db.inTransaction) return true;
  if (db instanceof SqliteDatabase) {
    return db.schedule(() => sqliteAcceptsWrites(db.raw));
  }
  try {
    await db.transaction(async () => {
      await db.prepare(PROBE_ROW).run();
      throw new ProbeRolledBack();
    })();
  } catch (error) {
    if (error instanceof ProbeRolledBack) return true;
    throw error;
  }
  return true;
}

function sqliteAcceptsWrites(db: Database.Database): boolean {
  if (db.readonly) return false;
  const busyTimeout = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma('busy_timeout = 250');
  try {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.prepare(PROBE_ROW).run();
    } finally {
      db.exec('ROLLBACK');
    }
    return true;
  } finally {
    db.pragma(`busy_timeout = ${busyTimeout}`);
  }
}
