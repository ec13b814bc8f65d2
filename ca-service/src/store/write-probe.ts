import type { Database } from 'better-sqlite3';

/**
 * A real write, rolled back: takes the write lock and inserts a row, so a read-only file, a
 * closed handle or a lock held elsewhere fails the check (waiting at most 250 ms, not the
 * store's busy timeout). Never nests into a transaction in progress.
 */
export function storeAcceptsWrites(db: Database): boolean {
  if (!db.open || db.readonly) return false;
  if (db.inTransaction) return true;
  const busyTimeout = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma('busy_timeout = 250');
  try {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.prepare(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (-1, 'readiness probe')",
      ).run();
    } finally {
      db.exec('ROLLBACK');
    }
    return true;
  } finally {
    db.pragma(`busy_timeout = ${busyTimeout}`);
  }
}
