import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Clock } from '@lantern/shared';
import { StoreCorruptError, StoreVersionUnsupportedError } from '../errors.js';
import type { Migration } from './migrations.js';
import { MIGRATIONS } from './migrations.js';

export interface AgentStoreOptions {
  clock: Clock;
  /** How long a writer waits for another process (daemon vs CLI) to release the lock. */
  busyTimeoutMs?: number;
  /** Only tests pass their own list; the agent always runs `MIGRATIONS`. */
  migrations?: readonly Migration[];
}

export type IntegrityVerdict = { ok: true } | { ok: false; problems: string[] };

/** The agent's SQLite cache: one file per data directory, shared by the daemon and the CLI. */
export class AgentStore {
  /** Built once: `db.transaction(fn)` makes four wrappers per call (~6 % of an offline sign-in). */
  private readonly runImmediate: (fn: () => unknown) => unknown;
  private outermost: object | null = null;

  /** Wraps an already opened and migrated database; `openAgentStore` is how to get one. */
  constructor(
    readonly db: Database.Database,
    readonly path: string,
    readonly clock: Clock,
  ) {
    this.runImmediate = db.transaction((fn: () => unknown) => fn()).immediate;
  }

  /**
   * Runs `fn` in one transaction. It begins IMMEDIATE (takes the write lock up front) so two
   * processes never both read and then fail to upgrade to a writer; called inside another
   * transaction it becomes a savepoint, so helpers such as `Outbox.append` join the caller's
   * transaction and commit or roll back with it. `fn` must be synchronous.
   */
  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return this.runImmediate(fn) as T;
    const token = {};
    this.outermost = token;
    try {
      return this.runImmediate(fn) as T;
    } finally {
      this.outermost = null;
    }
  }

  /**
   * A new object for each outermost `transaction` while it runs (committed or rolled back as
   * one), null outside one: what lets the TPM seal count a transaction once however many sealed
   * rows it writes.
   */
  get currentTransaction(): object | null {
    return this.db.inTransaction ? this.outermost : null;
  }

  schemaVersion(): number {
    return currentVersion(this.db);
  }

  integrityCheck(): IntegrityVerdict {
    const rows = this.db.pragma('integrity_check') as { integrity_check: string }[];
    const problems = rows.map((row) => row.integrity_check).filter((line) => line !== 'ok');
    const foreignKeys = this.db.pragma('foreign_key_check') as { table: string }[];
    problems.push(...foreignKeys.map((row) => `foreign key violation in ${row.table}`));
    return problems.length === 0 ? { ok: true } : { ok: false, problems };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Opens (creating if needed) and migrates the store. Refuses a store whose schema is newer
 * than this agent knows: running old code over it could silently drop what it does not know.
 */
export function openAgentStore(path: string, options: AgentStoreOptions): AgentStore {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Created 0600 before SQLite touches it; SQLite gives the -wal and -shm files the same mode.
  closeSync(openSync(path, 'a', 0o600));
  const db = new Database(path);
  try {
    db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
    db.pragma('journal_mode = WAL');
    // FULL, not NORMAL: with WAL, NORMAL can lose the last commits on power loss. Here that
    // would be a lockout counter (power-cycle to reset lockout) or an outbox event that then
    // never reaches the server. Writes are a few per sign-in, so the extra fsync is free.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // Deleted rows (wiped grants, ended sessions) are zeroed, not left in free pages.
    db.pragma('secure_delete = ON');
    migrate(db, options.migrations ?? MIGRATIONS, options.clock);
  } catch (error) {
    db.close();
    throw asStoreError(error, path);
  }
  return new AgentStore(db, path, options.clock);
}

function migrate(db: Database.Database, migrations: readonly Migration[], clock: Clock): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`);
  const latest = migrations.reduce((max, migration) => Math.max(max, migration.version), 0);
  const found = currentVersion(db);
  if (found > latest) {
    throw new StoreVersionUnsupportedError(
      `store schema is version ${found}; this agent knows up to ${latest}`,
    );
  }
  const record = db.prepare<[number, string, number]>(
    'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
  );
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    db.transaction(() => {
      // Re-read under the write lock: another process may have migrated in the meantime.
      if (currentVersion(db) >= migration.version) return;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, clock.now());
    }).immediate();
  }
}

function currentVersion(db: Database.Database): number {
  const row = db
    .prepare<[], { version: number | null }>(
      'SELECT max(version) AS version FROM schema_migrations',
    )
    .get();
  return row?.version ?? 0;
}

function asStoreError(error: unknown, path: string): unknown {
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StoreCorruptError(`${path} is not a usable agent store`, { cause: error });
  }
  return error;
}
