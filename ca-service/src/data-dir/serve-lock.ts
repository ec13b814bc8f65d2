import Database from 'better-sqlite3';
import { CaAlreadyRunningError } from '../errors.js';
import { dataDirPaths } from './paths.js';

export interface ServeLock {
  release(): void;
}

const BUSY = /^SQLITE_BUSY/;

function tryLock(dataDir: string): Database.Database | null {
  // A SQLite exclusive lock rather than a PID file: the kernel drops it when the process dies,
  // even by kill -9, so a crash never leaves a stale lock an admin must find and delete.
  const db = new Database(dataDirPaths(dataDir).serveLock, { timeout: 0 });
  try {
    // Nothing is ever written to it: no journal file beside it.
    db.pragma('journal_mode = OFF');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    return db;
  } catch (error) {
    db.close();
    if (BUSY.test(String((error as { code?: unknown }).code))) return null;
    throw error;
  }
}

/**
 * `serve` on SQLite is the only writer of its data dir: a second one would run its own relay,
 * key rotation and group commit against the same file. Held until `release` or process exit.
 */
export function acquireServeLock(dataDir: string): ServeLock {
  const db = tryLock(dataDir);
  if (db === null) {
    throw new CaAlreadyRunningError(
      `another lantern-ca serve is already running on ${dataDir}; stop it first (several instances need PostgreSQL)`,
    );
  }
  return { release: () => db.close() };
}

/** Whether a `serve` holds the data dir now (probes the lock and lets go at once). */
export function serveLockHeld(dataDir: string): boolean {
  const db = tryLock(dataDir);
  db?.close();
  return db === null;
}
