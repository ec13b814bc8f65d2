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
   * sent without waiting for the round trip; if it fails, the next statement that waits throws
   * its error instead of running (a COMMIT rolls back and throws it). Callers end a series of
   * sends with a statement of their own that waits (`RowBatches.flush` runs its last batch), so
   * the error surfaces in their scope, not in a later unit's. Absent on SQLite, where `run`
   * waits for nothing.
   */
  send?(...params: unknown[]): void;
}

/** What a read needs: both a `SqlDatabase` and a projection's `WriteBehindDatabase` are one. */
export interface SqlReader {
  prepare(sql: string): Pick<SqlStatement, 'get' | 'all'>;
}

export interface SqlDatabase {
  prepare(sql: string): SqlStatement;
  exec(sql: string): unknown;
  /** Wraps `fn` in a transaction; a call inside another transaction becomes a savepoint. */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  /**
   * A transaction whose statements touch nothing a transaction with the writer's turn reads
   * (no events, no projections; a device proof's single-use id): on PostgreSQL it does not wait
   * for another instance's writer, and row locks and constraints keep it correct. A transaction
   * that needs the turn (an append) cannot start inside it. Absent on SQLite, whose one writer
   * is this process: `transaction` serves.
   */
  transactionWithoutTurn?<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  readonly inTransaction: boolean;
  /** False once closed. */
  readonly open: boolean;
  close(): unknown;
}
