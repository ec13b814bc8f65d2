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
