import type { RunOutcome, SqlDatabase, SqlStatement } from '../sql-database.js';
import { PostgresConnection, PostgresError } from './postgres-connection.js';
import { toPostgresSchema, toPostgresSql } from './postgres-sql.js';

/**
 * Taken first in every transaction: the CA instances sharing a store take turns, one write
 * transaction at a time, as the one SQLite connection of a single CA does. That is what keeps the
 * event hash chain one chain, the aggregate versions rising with position (`lastInStream`), an
 * enrollment token consumed once and the revocation feed without gaps, with the features' code
 * the same on both engines. One lock per schema ("LANT" in ASCII, then the schema), so stores in
 * other schemas of the database do not wait on it; the two-key form never meets a lease's key.
 */
const BEGIN_WRITER_TURN =
  'BEGIN; SELECT pg_advisory_xact_lock(1279348308, hashtext(current_schema()))';

const READ_ONLY = /^\s*(SELECT|VALUES)\b/i;

class PostgresStatement implements SqlStatement {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly text: string,
    private readonly writes: boolean,
  ) {}

  run(...params: unknown[]): RunOutcome {
    return { changes: this.db.execute(this.text, params, this.writes).rowCount };
  }

  get(...params: unknown[]): unknown {
    return this.db.execute(this.text, params, this.writes).rows[0];
  }

  all(...params: unknown[]): unknown[] {
    return this.db.execute(this.text, params, this.writes).rows;
  }

  iterate(...params: unknown[]): IterableIterator<unknown> {
    return this.all(...params)[Symbol.iterator]();
  }

  send(...params: unknown[]): void {
    this.db.send(this.text, params);
  }
}

/**
 * The CA's store on PostgreSQL, with better-sqlite3's synchronous API (`SqlDatabase`).
 *
 * A transaction (`transaction()`) and a write outside one hold the writer lock; a write outside
 * one commits before the call returns, as SQLite's autocommit does. A read outside a transaction
 * takes no lock: it sees what was committed when it ran, and other instances go on writing. So
 * a read that a write depends on belongs in the write's transaction (on SQLite too, where an
 * `await` between the two lets another request in): the store's callers do that.
 */
export class PostgresDatabase implements SqlDatabase {
  private readonly connection: PostgresConnection;
  private transactionOpen = false;
  /** The server session the open transaction began on; its statements must run there. */
  private transactionSession = 0;
  private closed = false;
  private explicitDepth = 0;
  private savepoints = 0;
  /** Inside `transactionWithoutTurn`: no transaction that needs the turn may start. */
  private withoutTurn = false;

  /** `url` names the database (and search path); it may carry a password, so it is never logged. */
  constructor(
    readonly url: string,
    applicationName?: string,
  ) {
    this.connection = new PostgresConnection(url, applicationName);
  }

  get inTransaction(): boolean {
    return this.explicitDepth > 0 && this.transactionOpen;
  }

  get open(): boolean {
    return !this.closed;
  }

  prepare(sql: string): SqlStatement {
    return new PostgresStatement(this, toPostgresSql(sql), !READ_ONLY.test(sql));
  }

  /** Runs a script of DDL (a migration), translated to PostgreSQL's types. */
  exec(sql: string): this {
    this.execute(toPostgresSchema(sql), undefined, true);
    return this;
  }

  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    return (...args: A): R => {
      if (this.withoutTurn) {
        // Its statements would run without the writer's turn: an append there could fork the chain.
        throw new TypeError('a transaction cannot run inside one that has not the writer turn');
      }
      if (this.explicitDepth > 0) return this.inSavepoint(() => fn(...args));
      return this.outermost(fn, args, BEGIN_WRITER_TURN);
    };
  }

  /**
   * `SqlDatabase.transactionWithoutTurn`: BEGIN without the writer lock. Inside a transaction
   * that has the turn, it is a savepoint of that one.
   */
  transactionWithoutTurn<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    return (...args: A): R => {
      if (this.explicitDepth > 0) return this.inSavepoint(() => fn(...args));
      this.withoutTurn = true;
      try {
        return this.outermost(fn, args, 'BEGIN');
      } finally {
        this.withoutTurn = false;
      }
    };
  }

  private outermost<A extends unknown[], R>(fn: (...args: A) => R, args: A, begin: string): R {
    this.begin(begin);
    this.explicitDepth = 1;
    try {
      const result = fn(...args);
      if (result instanceof Promise) {
        throw new TypeError('a transaction function must not return a promise');
      }
      this.end('COMMIT');
      return result;
    } catch (error) {
      this.end('ROLLBACK');
      throw error;
    } finally {
      this.explicitDepth = 0;
    }
  }

  /**
   * Tries to take the session-level advisory lock `name` in this schema (the outbox relay's
   * lease). Held until `unlock` or until this connection ends, as when the process dies.
   */
  tryLock(name: string): boolean {
    const row = this.connection.query(
      `SELECT pg_try_advisory_lock(hashtext(current_schema() || ':' || $1)) AS held`,
      [name],
    ).rows[0];
    return row?.['held'] === 1;
  }

  /** The server session the connection is on; a new one has lost the old one's locks. */
  get session(): number {
    return this.connection.session;
  }

  unlock(name: string): void {
    this.connection.query(`SELECT pg_advisory_unlock(hashtext(current_schema() || ':' || $1))`, [
      name,
    ]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.transactionOpen) this.end('COMMIT');
    this.connection.close();
  }

  /** @internal The statements' way in: runs one statement in the current transaction. */
  execute(sql: string, params: readonly unknown[] | undefined, writes: boolean) {
    if (!writes && this.explicitDepth === 0) return this.connection.query(sql, params);
    this.begin();
    let result;
    try {
      result = this.connection.query(sql, params, this.transactionSession);
    } catch (error) {
      if (error instanceof PostgresError && error.connectionLost) this.transactionOpen = false;
      // PostgreSQL aborts the whole transaction on an error. Inside an explicit one the
      // failure reaches `transaction()`, which rolls back; outside, the write was all of it.
      if (this.explicitDepth === 0) this.end('ROLLBACK');
      throw error;
    }
    if (this.explicitDepth === 0) this.end('COMMIT');
    return result;
  }

  /**
   * @internal `SqlStatement.send`: inside an explicit transaction, sent without waiting (the
   * connection reports a failure at the next waited statement); outside one, a write commits
   * before the call returns, so it waits as `run` does.
   */
  send(sql: string, params: readonly unknown[]): void {
    if (this.explicitDepth === 0 || !this.transactionOpen) {
      this.execute(sql, params, true);
      return;
    }
    this.connection.send(sql, params, this.transactionSession);
  }

  private begin(command = BEGIN_WRITER_TURN): void {
    if (this.transactionOpen) return;
    try {
      this.connection.query(command);
    } catch (error) {
      // The lock wait failed (lock_timeout, a cancel) inside the BEGIN block: end that block,
      // or every later statement on this connection is refused as part of an aborted one.
      this.rollbackQuietly();
      throw error;
    }
    this.transactionOpen = true;
    this.transactionSession = this.connection.session;
  }

  private rollbackQuietly(): void {
    try {
      this.connection.query('ROLLBACK');
    } catch {
      // Nothing to end: the connection is gone, and PostgreSQL ended its transaction with it.
    }
  }

  private end(command: 'COMMIT' | 'ROLLBACK'): void {
    if (!this.transactionOpen) return;
    this.transactionOpen = false;
    try {
      this.connection.query(command, undefined, this.transactionSession);
    } catch (error) {
      if (command === 'COMMIT') throw error;
      // A failed rollback leaves nothing to undo: PostgreSQL ends a transaction whose
      // connection is lost, and the next statement starts a new one.
      if (!(error instanceof PostgresError)) throw error;
    }
  }

  private inSavepoint<R>(work: () => R): R {
    this.savepoints += 1;
    const name = `unit_${this.savepoints}`;
    const session = this.transactionSession;
    // Sent: it fails only in a transaction that already failed, and the unit's first statement
    // that waits, at the latest its RELEASE, reports that in the unit's own scope.
    this.connection.send(`SAVEPOINT ${name}`, undefined, session);
    this.explicitDepth += 1;
    try {
      const result = work();
      this.connection.query(`RELEASE SAVEPOINT ${name}`, undefined, session);
      return result;
    } catch (error) {
      // Undone and released (an unreleased savepoint stays a subtransaction to the end); if
      // that fails too, the connection is gone and the caller's error is the one that matters.
      try {
        this.connection.query(
          `ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`,
          undefined,
          session,
        );
      } catch {
        // The statements after this one fail too: they must run on `session`, which is gone.
      }
      throw error;
    } finally {
      this.explicitDepth -= 1;
    }
  }
}
