import type { SqlDatabase, SqlStatement } from './sql-database.js';

/**
 * A statement whose writes the caller does not read the outcome of: `run` returns nothing, so
 * the engine may send it without waiting (`SqlStatement.send`). Reads wait as usual.
 */
export interface WriteBehindStatement {
  run(...params: unknown[]): void;
  get(...params: unknown[]): Promise<unknown>;
  all(...params: unknown[]): Promise<unknown[]>;
}

export interface WriteBehindDatabase {
  prepare(sql: string): WriteBehindStatement;
}

class WriteBehindStatementOf implements WriteBehindStatement {
  constructor(private readonly inner: SqlStatement) {}

  run(...params: unknown[]): void {
    this.inner.send(...params);
  }

  get(...params: unknown[]): Promise<unknown> {
    return this.inner.get(...params);
  }

  all(...params: unknown[]): Promise<unknown[]> {
    return this.inner.all(...params);
  }
}

/**
 * `db` for code whose writes end in a statement of its caller's that waits, inside the caller's
 * transaction: the event store's projections, whose append ends with its events' INSERT. On
 * PostgreSQL each projection write then costs the CA's thread no round trip; a write that fails
 * is thrown by the next statement that waits, at the latest that INSERT, so the append (and only
 * it) rolls back, as when `run` threw. The rule of `SqlStatement.send` holds: no caught nested
 * unit between such a write and the statement that waits.
 */
export function writeBehind(db: SqlDatabase): WriteBehindDatabase {
  return {
    prepare: (sql) => new WriteBehindStatementOf(db.prepare(sql)),
  };
}
