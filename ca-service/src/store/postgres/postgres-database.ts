import pg from 'pg';
import type { RunOutcome, SqlDatabase, SqlStatement } from '../sql-database.js';
import { TransactionFrames, newFrameState } from '../transaction-frames.js';
import type { FrameState } from '../transaction-frames.js';
import { Turn } from '../turn.js';
import { PostgresError } from './postgres-error.js';
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
/** SQLSTATE 0A000 "cached plan must not change result type". */
const CACHED_PLAN_CHANGED = '0A000';
/** Named (server-side prepared) statements; dynamic SQL past this runs unnamed. */
const MAX_NAMED = 2000;
/**
 * Connections per CA instance. One transaction of the instance at a time waits for the writer's
 * turn on a connection (`writerTurn`); the others wait in the process and leave the connections to
 * reads and to transactions without the turn.
 */
const POOL_SIZE = 8;
/** What every connection runs with; settings a URL's own `options` names come after, and win. */
const SESSION_OPTIONS =
  '-c lock_timeout=30s -c statement_timeout=60s -c idle_in_transaction_session_timeout=120s';

const BIGINT = 20;
const NUMERIC = 1700;
const BOOL = 16;

/** Counts and booleans as SQLite gives them: numbers, and 1 or 0. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === BIGINT || oid === NUMERIC) return Number;
    if (oid === BOOL) return (text: string) => (text === 't' ? 1 : 0);
    return pg.types.getTypeParser(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

interface QueryResult {
  rows: Record<string, unknown>[];
  rowCount: number;
  command?: string;
}

/** One transaction of one asynchronous context, on the pooled connection it began on. */
interface Frame extends FrameState {
  client: pg.PoolClient;
  withoutTurn: boolean;
  /** The first failure of a sent write, until the transaction ends or rolls back past it. */
  failure: PostgresError | null;
  /**
   * Settles once every statement queued so far has been answered (or refused by the client):
   * the transaction's statements run in the order they were asked for, sent or awaited.
   */
  queue: Promise<unknown>;
  lost: boolean;
}

class PostgresStatement implements SqlStatement {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly text: string,
    private readonly writes: boolean,
  ) {}

  async run(...params: unknown[]): Promise<RunOutcome> {
    return { changes: (await this.db.execute(this.text, params, this.writes)).rowCount };
  }

  async get(...params: unknown[]): Promise<unknown> {
    return (await this.db.execute(this.text, params, this.writes)).rows[0];
  }

  async all(...params: unknown[]): Promise<unknown[]> {
    return (await this.db.execute(this.text, params, this.writes)).rows;
  }

  send(...params: unknown[]): void {
    this.db.send(this.text, params);
  }
}

/**
 * The CA's store on PostgreSQL (`pg`), asynchronous as `SqlDatabase` is.
 *
 * A transaction takes a pooled connection and the writer's turn; the statements of its
 * asynchronous context run on that connection (`AsyncLocalStorage`), and nested transactions are
 * savepoints. A write outside a transaction is one of its own, committed before the call
 * resolves, as SQLite's autocommit does. A read outside a transaction takes no lock: it sees what
 * was committed when it ran, and other instances go on writing. So a read that a write depends on
 * belongs in the write's transaction: the store's callers do that.
 */
export class PostgresDatabase implements SqlDatabase {
  private readonly pool: pg.Pool;
  private readonly frames = new TransactionFrames<Frame>();
  private readonly writerTurn = new Turn();
  private readonly names = new Map<string, string>();
  /** Part of every statement name: a new one after a schema change retired the old plans. */
  private namePrefix = 'lantern_0_';
  private renames = 0;
  private closed = false;
  /** The connection that holds session-level locks (leases), opened when first needed. */
  private sessionClient: Promise<pg.Client> | null = null;
  /**
   * Which server session holds the leases: it changes when that connection is lost, and with it
   * every lock it held.
   */
  session = 0;

  /** `url` names the database (and search path); it may carry a password, so it is never logged. */
  constructor(
    readonly url: string,
    private readonly applicationName = 'lantern-ca',
  ) {
    this.pool = new pg.Pool({ ...this.connectionConfig(), max: POOL_SIZE });
    // An idle pooled connection that fails is dropped by the pool; the error must not crash us.
    this.pool.on('error', () => {});
    // Nor may one in use: its statements fail, and it is dropped when released.
    this.pool.on('connect', (client) => client.on('error', () => {}));
  }

  get inTransaction(): boolean {
    return this.frames.isOpen() && this.frames.current()?.lost === false;
  }

  get open(): boolean {
    return !this.closed;
  }

  connections(): { active: number; idle: number } {
    return { active: this.pool.totalCount - this.pool.idleCount, idle: this.pool.idleCount };
  }

  prepare(sql: string): SqlStatement {
    return new PostgresStatement(this, toPostgresSql(sql), !READ_ONLY.test(sql));
  }

  /** Runs a script of DDL (a migration), translated to PostgreSQL's types. */
  async exec(sql: string): Promise<this> {
    await this.execute(toPostgresSchema(sql), undefined, true);
    return this;
  }

  transaction<A extends unknown[], R>(
    fn: (...args: A) => Promise<R> | R,
  ): (...args: A) => Promise<R> {
    return (...args: A) => this.inTransactionOf(() => fn(...args), false);
  }

  /**
   * `SqlDatabase.transactionWithoutTurn`: BEGIN without the writer lock. Inside a transaction
   * that has the turn, it is a savepoint of that one.
   */
  transactionWithoutTurn<A extends unknown[], R>(
    fn: (...args: A) => Promise<R> | R,
  ): (...args: A) => Promise<R> {
    return (...args: A) => this.inTransactionOf(() => fn(...args), true);
  }

  /**
   * Tries to take the session-level advisory lock `name` in this schema (the outbox relay's
   * lease). Held until `unlock` or until the session's connection ends, as when the process dies.
   */
  async tryLock(name: string): Promise<boolean> {
    const client = await this.sessionConnection();
    const result = await this.query(
      client,
      `SELECT pg_try_advisory_lock(hashtext(current_schema() || ':' || $1)) AS held`,
      [name],
    );
    return result.rows[0]?.['held'] === 1;
  }

  async unlock(name: string): Promise<void> {
    const client = await this.sessionConnection();
    await this.query(client, `SELECT pg_advisory_unlock(hashtext(current_schema() || ':' || $1))`, [
      name,
    ]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const session = this.sessionClient;
    this.sessionClient = null;
    if (session !== null) {
      await session.then(
        (client) => client.end(),
        () => {},
      );
    }
    await this.pool.end();
  }

  /** @internal The statements' way in: runs one statement in the caller's transaction. */
  async execute(
    sql: string,
    params: readonly unknown[] | undefined,
    writes: boolean,
  ): Promise<QueryResult> {
    const frame = this.frames.current();
    if (frame !== undefined) return this.inFrame(frame, sql, params);
    if (this.closed) throw new PostgresError('the PostgreSQL store is closed', undefined, true);
    if (!writes) {
      try {
        return await this.read(sql, params);
      } catch (error) {
        // A pooled connection the server ended (a failover, a terminated backend) fails its
        // next statement: a read is safe to ask again on a fresh one.
        if (!(error instanceof PostgresError && error.connectionLost)) throw error;
        return this.read(sql, params);
      }
    }
    return this.inTransactionOf(() => this.inFrame(this.frames.current()!, sql, params), false);
  }

  private async read(sql: string, params: readonly unknown[] | undefined): Promise<QueryResult> {
    const client = await this.connect();
    let lost = false;
    try {
      return await this.query(client, sql, params);
    } catch (error) {
      lost = error instanceof PostgresError && error.connectionLost;
      throw error;
    } finally {
      client.release(lost);
    }
  }

  /**
   * @internal `SqlStatement.send`: inside a transaction, sent without waiting; its failure is
   * thrown by the transaction's next statement that waits.
   */
  send(sql: string, params: readonly unknown[]): void {
    const frame = this.frames.current();
    if (frame === undefined) throw new TypeError('a sent write belongs in a transaction');
    this.inOrder(frame, sql, params).catch((error: unknown) => {
      const failure = this.asPostgresError(error);
      if (failure.connectionLost) frame.lost = true;
      frame.failure ??= failure;
    });
  }

  private async inTransactionOf<R>(work: () => Promise<R> | R, withoutTurn: boolean): Promise<R> {
    const outer = this.frames.current();
    if (outer !== undefined) {
      if (outer.withoutTurn && !withoutTurn) {
        // Its statements would run without the writer's turn: an append there could fork the chain.
        throw new TypeError('a transaction cannot run inside one that has not the writer turn');
      }
      return this.inSavepoint(outer, work);
    }
    if (this.closed) throw new PostgresError('the PostgreSQL store is closed', undefined, true);
    if (!withoutTurn) await this.writerTurn.take();
    try {
      return await this.outermost(work, withoutTurn);
    } finally {
      if (!withoutTurn) this.writerTurn.give();
    }
  }

  private async outermost<R>(work: () => Promise<R> | R, withoutTurn: boolean): Promise<R> {
    const client = await this.connect();
    const frame: Frame = {
      ...newFrameState(),
      client,
      withoutTurn,
      failure: null,
      queue: Promise.resolve(),
      lost: false,
    };
    try {
      try {
        await this.query(client, withoutTurn ? 'BEGIN' : BEGIN_WRITER_TURN);
      } catch (error) {
        // The lock wait failed (lock_timeout, a cancel) inside the BEGIN block: end that block,
        // or the connection goes back to the pool inside an aborted transaction.
        frame.lost = true;
        throw error;
      }
      let result: R;
      try {
        result = await this.frames.run(frame, work);
        if (frame.broken !== null) throw frame.broken;
      } catch (error) {
        frame.closed = true;
        await this.end(frame, 'ROLLBACK');
        throw error;
      }
      frame.closed = true;
      await this.end(frame, 'COMMIT');
      return result;
    } finally {
      frame.closed = true;
      client.release(frame.lost);
    }
  }

  /** Runs `sql` on the transaction's connection once the statements queued before it are done. */
  private inOrder(frame: Frame, sql: string, params?: readonly unknown[]): Promise<QueryResult> {
    const run = frame.queue.then(() => this.query(frame.client, sql, params));
    frame.queue = run.catch(() => undefined);
    return run;
  }

  private async inFrame(
    frame: Frame,
    sql: string,
    params: readonly unknown[] | undefined,
  ): Promise<QueryResult> {
    let result: QueryResult;
    try {
      result = await this.inOrder(frame, sql, params);
    } catch (error) {
      const failure = this.asPostgresError(error);
      if (failure.connectionLost) frame.lost = true;
      throw frame.failure ?? failure;
    }
    if (frame.failure !== null) throw frame.failure;
    return result;
  }

  private async end(frame: Frame, command: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    // A write the client refused to encode fails when its turn to be sent comes, after the
    // statements before it: its verdict must be in before the commit is sent.
    await frame.queue;
    if (frame.lost) {
      if (command === 'COMMIT') {
        throw new PostgresError(
          'the PostgreSQL connection was lost during a transaction',
          undefined,
          true,
        );
      }
      return;
    }
    const failure = frame.failure;
    if (failure !== null) {
      // A sent write failed: nothing of the transaction may stay (a write the client could not
      // encode leaves the server's transaction open and unaborted).
      await this.rollbackQuietly(frame);
      if (command === 'COMMIT') throw failure;
      return;
    }
    if (command === 'ROLLBACK') {
      await this.rollbackQuietly(frame);
      return;
    }
    let result: QueryResult;
    try {
      result = await this.inOrder(frame, 'COMMIT');
    } catch (error) {
      frame.lost = true;
      throw error;
    }
    // PostgreSQL answers the COMMIT of a transaction an error aborted with a ROLLBACK, and no
    // error: whoever committed must learn that nothing was.
    if (result.command === 'ROLLBACK') {
      throw new PostgresError(
        'the transaction had failed: PostgreSQL rolled it back instead of committing',
        '25P02',
        false,
      );
    }
  }

  private async rollbackQuietly(frame: Frame): Promise<void> {
    try {
      await this.inOrder(frame, 'ROLLBACK');
    } catch {
      // Nothing to end: the connection is gone, and PostgreSQL ended its transaction with it.
      frame.lost = true;
    }
  }

  private async inSavepoint<R>(frame: Frame, work: () => Promise<R> | R): Promise<R> {
    const name = this.frames.enterUnit(frame);
    const failedBefore = frame.failure;
    // Sent: it fails only in a transaction that already failed, and the unit's first statement
    // that waits, at the latest its RELEASE, reports that in the unit's own scope.
    this.send(`SAVEPOINT ${name}`, []);
    let result: R;
    try {
      result = await work();
      this.leaveUnit(frame, name);
    } catch (error) {
      if (frame.units.at(-1) === name) this.leaveUnit(frame, name);
      if (frame.closed) throw error;
      await this.rollbackUnit(frame, name, failedBefore);
      throw error;
    }
    try {
      await this.inFrame(frame, `RELEASE SAVEPOINT ${name}`, undefined);
    } catch (error) {
      await this.rollbackUnit(frame, name, failedBefore);
      throw error;
    }
    return result;
  }

  /** Ends a unit only in its own transaction, still open, and innermost. */
  private leaveUnit(frame: Frame, name: string): void {
    if (frame.closed) throw new TypeError('a nested transaction outlived its transaction');
    this.frames.leaveUnit(frame, name);
  }

  /**
   * Undoes a unit and releases it (an unreleased savepoint stays a subtransaction to the end); a
   * sent write of the unit that failed is undone with it. If that fails too, the caller's error
   * is the one that matters, and the transaction must not commit.
   */
  private async rollbackUnit(
    frame: Frame,
    name: string,
    failedBefore: PostgresError | null,
  ): Promise<void> {
    try {
      await this.inOrder(frame, `ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`);
      if (failedBefore === null) frame.failure = null;
    } catch (error) {
      const failure = this.asPostgresError(error);
      if (failure.connectionLost) frame.lost = true;
      frame.failure ??= failure;
    }
  }

  private connectionConfig(): pg.ClientConfig {
    // `pg` lets the URL's parameters override the config's: a URL that names its own `options`
    // (a search path, say) would drop the timeouts. Both go in one string instead.
    const url = new URL(this.url);
    const own = url.searchParams.get('options');
    url.searchParams.delete('options');
    return {
      connectionString: url.toString(),
      application_name: this.applicationName,
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
      types,
      options: own === null ? SESSION_OPTIONS : `${SESSION_OPTIONS} ${own}`,
    };
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw this.asPostgresError(error);
    }
  }

  private sessionConnection(): Promise<pg.Client> {
    if (this.closed) {
      return Promise.reject(new PostgresError('the PostgreSQL store is closed', undefined, true));
    }
    if (this.sessionClient === null) {
      const client = new pg.Client(this.connectionConfig());
      const connecting: Promise<pg.Client> = client.connect().then(
        () => client,
        (error: unknown) => {
          throw this.asPostgresError(error);
        },
      );
      this.sessionClient = connecting;
      this.session += 1;
      const forget = () => {
        if (this.sessionClient === connecting) {
          this.sessionClient = null;
          // Whatever the session held is gone with it.
          this.session += 1;
        }
      };
      client.on('error', forget);
      client.on('end', forget);
      connecting.catch(forget);
    }
    return this.sessionClient;
  }

  private async query(
    client: pg.ClientBase,
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult> {
    try {
      const outcome =
        params === undefined
          ? await client.query(sql)
          : await client.query({ text: sql, values: params as unknown[], name: this.nameOf(sql) });
      const last = (
        Array.isArray(outcome) ? outcome[outcome.length - 1] : outcome
      ) as pg.QueryResult;
      return {
        rows: (last.rows ?? []) as Record<string, unknown>[],
        rowCount: last.rowCount ?? 0,
        command: last.command,
      };
    } catch (error) {
      const failure = this.asPostgresError(error);
      // Another instance's migration changed a table under a prepared `SELECT *`: PostgreSQL
      // refuses the old plan; statements are prepared afresh from the next call on.
      if (failure.code === CACHED_PLAN_CHANGED) {
        this.renames += 1;
        this.namePrefix = `lantern_${this.renames}_`;
        this.names.clear();
      }
      throw failure;
    }
  }

  private nameOf(sql: string): string | undefined {
    let name = this.names.get(sql);
    if (name === undefined && this.names.size < MAX_NAMED) {
      name = `${this.namePrefix}${this.names.size + 1}`;
      this.names.set(sql, name);
    }
    return name;
  }

  private asPostgresError(error: unknown): PostgresError {
    if (error instanceof PostgresError) return error;
    if (error instanceof pg.DatabaseError) {
      return new PostgresError(error.message, error.code, false);
    }
    const message = error instanceof Error ? error.message : String(error);
    // Not the server's answer: the client could not encode a value (the transaction stays
    // usable on the server), or the connection is gone.
    if (error instanceof TypeError || error instanceof RangeError) {
      return new PostgresError(message, undefined, false);
    }
    return new PostgresError(`the PostgreSQL connection was lost: ${message}`, undefined, true);
  }
}
