import type Database from 'better-sqlite3';
import type { RunOutcome, SqlDatabase, SqlStatement } from './sql-database.js';
import { TransactionFrames, newFrameState } from './transaction-frames.js';
import type { FrameState } from './transaction-frames.js';
import { Turn } from './turn.js';

class SqliteStatement implements SqlStatement {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly inner: Database.Statement,
  ) {}

  run(...params: unknown[]): Promise<RunOutcome> {
    return this.db.schedule(() => ({ changes: this.inner.run(...params).changes }));
  }

  get(...params: unknown[]): Promise<unknown> {
    return this.db.schedule(() => this.inner.get(...params));
  }

  all(...params: unknown[]): Promise<unknown[]> {
    return this.db.schedule(() => this.inner.all(...params));
  }

  send(...params: unknown[]): void {
    this.db.runInTransaction(() => this.inner.run(...params));
  }
}

/**
 * The CA's store on SQLite: better-sqlite3 behind the asynchronous `SqlDatabase`. The connection
 * is one, so a transaction holds the turn from BEGIN to COMMIT, and statements of other
 * asynchronous contexts wait for it: they would otherwise run inside it, see its writes before
 * they are committed, and be rolled back with it. A statement runs at once when no transaction
 * is open, so reads cost no wait.
 */
export class SqliteDatabase implements SqlDatabase {
  private readonly frames = new TransactionFrames<FrameState>();
  private readonly turn = new Turn();
  private readonly control = new Map<string, Database.Statement>();

  constructor(readonly raw: Database.Database) {}

  get inTransaction(): boolean {
    return this.frames.isOpen() && this.raw.inTransaction;
  }

  get open(): boolean {
    return this.raw.open;
  }

  connections(): { active: number; idle: number } {
    return this.turn.busy ? { active: 1, idle: 0 } : { active: 0, idle: 1 };
  }

  prepare(sql: string): SqlStatement {
    return new SqliteStatement(this, this.raw.prepare(sql));
  }

  exec(sql: string): Promise<unknown> {
    return this.schedule(() => this.raw.exec(sql));
  }

  transaction<A extends unknown[], R>(
    fn: (...args: A) => Promise<R> | R,
  ): (...args: A) => Promise<R> {
    return async (...args: A): Promise<R> => {
      const frame = this.frames.current();
      if (frame !== undefined) return this.inSavepoint(frame, () => fn(...args));
      await this.turn.take();
      const own = newFrameState();
      try {
        this.command('BEGIN');
        let result: R;
        try {
          result = await this.frames.run(own, () => fn(...args));
          if (own.broken !== null) throw own.broken;
        } catch (error) {
          own.closed = true;
          if (this.raw.inTransaction) this.command('ROLLBACK');
          throw error;
        }
        own.closed = true;
        try {
          this.command('COMMIT');
        } catch (error) {
          if (this.raw.inTransaction) this.command('ROLLBACK');
          throw error;
        }
        return result;
      } finally {
        own.closed = true;
        this.turn.give();
      }
    };
  }

  /** Closes once the transaction under way, if any, has ended. */
  async close(): Promise<void> {
    if (!this.raw.open) return;
    if (this.frames.isOpen()) throw new TypeError('the store cannot close inside a transaction');
    await this.turn.take();
    try {
      this.raw.close();
    } finally {
      this.turn.give();
    }
  }

  /**
   * Runs `work` on the connection now if no other context's transaction is open, else once it
   * has ended: for statements, and for what must see the connection outside any transaction.
   */
  schedule<T>(work: () => T): Promise<T> {
    try {
      // `current` throws for a statement of a transaction that has ended: a rejection too.
      if (this.frames.current() !== undefined || !this.turn.busy) return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.turn.take().then(() => {
      try {
        return work();
      } finally {
        this.turn.give();
      }
    });
  }

  /** @internal `SqlStatement.send`: a write of the caller's transaction, run now. */
  runInTransaction(work: () => unknown): void {
    // As on PostgreSQL, where it could not wait for its answer outside one.
    if (this.frames.current() === undefined) {
      throw new TypeError('a sent write belongs in a transaction');
    }
    work();
  }

  private async inSavepoint<R>(frame: FrameState, work: () => Promise<R> | R): Promise<R> {
    const name = this.frames.enterUnit(frame);
    this.command(`SAVEPOINT ${name}`);
    let result: R;
    try {
      result = await work();
    } catch (error) {
      this.leaveUnit(frame, name);
      // Some errors (disk full, I/O) make SQLite roll back the whole transaction: nothing is
      // left to roll back to, and the caller's error is the one that matters.
      if (this.raw.inTransaction) {
        this.command(`ROLLBACK TO ${name}`);
        this.command(`RELEASE ${name}`);
      }
      throw error;
    }
    this.leaveUnit(frame, name);
    this.command(`RELEASE ${name}`);
    return result;
  }

  /** Ends a unit only in its own transaction, still open, and innermost. */
  private leaveUnit(frame: FrameState, name: string): void {
    if (frame.closed) throw new TypeError('a nested transaction outlived its transaction');
    this.frames.leaveUnit(frame, name);
  }

  private command(sql: string): void {
    let prepared = this.control.get(sql);
    if (prepared === undefined) {
      prepared = this.raw.prepare(sql);
      this.control.set(sql, prepared);
    }
    prepared.run();
  }
}
