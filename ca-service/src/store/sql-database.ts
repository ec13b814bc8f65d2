/**
 * The part of a SQL connection the CA's features use: better-sqlite3's synchronous API, which a
 * better-sqlite3 `Database` is as it stands and `PostgresDatabase` provides over PostgreSQL.
 * Features write their SQL to what both engines accept (`store/migrations.ts` says which subset).
 */
export interface RunOutcome {
  changes: number;
}

export interface SqlStatement {
  run(...params: unknown[]): RunOutcome;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  /**
   * A write whose outcome the caller does not read. On PostgreSQL, inside a transaction, it is
   * sent without waiting for the round trip; if it fails, the next statement that waits (at the
   * latest the savepoint's release or the commit) throws its error, and the transaction or
   * savepoint rolls back as if `run` had thrown. Absent on SQLite, where `run` waits for nothing.
   */
  send?(...params: unknown[]): void;
}

export interface SqlDatabase {
  prepare(sql: string): SqlStatement;
  exec(sql: string): unknown;
  /** Wraps `fn` in a transaction; a call inside another transaction becomes a savepoint. */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  readonly inTransaction: boolean;
  /** False once closed. */
  readonly open: boolean;
  close(): unknown;
}
