/**
 * The part of a SQL connection the CA's features use, asynchronous on both engines:
 * `SqliteDatabase` over better-sqlite3 and `PostgresDatabase` over `pg`. Features write their SQL
 * to what both engines accept (`store/migrations.ts` says which subset).
 */
export interface RunOutcome {
  changes: number;
}

export interface SqlStatement {
  run(...params: unknown[]): Promise<RunOutcome>;
  get(...params: unknown[]): Promise<unknown>;
  all(...params: unknown[]): Promise<unknown[]>;
  /**
   * A write whose outcome the caller does not read. On PostgreSQL, inside a transaction, it is
   * sent without waiting for the round trip; if it fails, the next statement of the transaction
   * that waits throws its error instead (a COMMIT rolls back and throws it). Callers end a series
   * of sends with a statement of their own that waits (`RowBatches.flush` runs its last batch), so
   * the error surfaces in their scope, not in a later unit's. On SQLite it runs at once and
   * throws at once.
   */
  send(...params: unknown[]): void;
}

/** What a read needs: both a `SqlDatabase` and a projection's `WriteBehindDatabase` are one. */
export interface SqlReader {
  prepare(sql: string): Pick<SqlStatement, 'get' | 'all'>;
}

export interface SqlDatabase {
  prepare(sql: string): SqlStatement;
  exec(sql: string): Promise<unknown>;
  /**
   * Wraps `fn` in a transaction; a call inside another transaction (in the same asynchronous
   * context) becomes a savepoint. Other contexts' statements wait for the commit: a transaction
   * sees no one else's writes half done, and no one sees its own. So `fn` awaits the store and
   * nothing that waits for another context (a queue, a lock, a request): that context may be
   * waiting for this transaction's commit. Nor does it leave a branch running past its end.
   */
  transaction<A extends unknown[], R>(
    fn: (...args: A) => Promise<R> | R,
  ): (...args: A) => Promise<R>;
  /**
   * A transaction whose statements touch nothing a transaction with the writer's turn reads
   * (no events, no projections; a device proof's single-use id): on PostgreSQL it does not wait
   * for another instance's writer, and row locks and constraints keep it correct. A transaction
   * that needs the turn (an append) cannot start inside it. Absent on SQLite, whose one writer
   * is this process: `transaction` serves.
   */
  transactionWithoutTurn?<A extends unknown[], R>(
    fn: (...args: A) => Promise<R> | R,
  ): (...args: A) => Promise<R>;
  /** True inside a transaction of this database, in the asynchronous context that runs it. */
  readonly inTransaction: boolean;
  /** Connections in use and idle: SQLite's one is in use while a transaction holds it. */
  connections(): { active: number; idle: number };
  /** False once closed. */
  readonly open: boolean;
  close(): Promise<void>;
}
