import { createRequire } from 'node:module';
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';

/**
 * The thread that holds the PostgreSQL connection (`pg`). It answers one request at a time and
 * wakes the caller through the shared signal. Plain JavaScript in a string: a worker runs a file
 * or source text, and this one must run the same from `src/` under the tests and from `dist/`.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const pg = require(workerData.pgPath);
const { port, signal, url, applicationName, firstSession } = workerData;
const BIGINT = 20, NUMERIC = 1700, BOOL = 16;
pg.types.setTypeParser(BIGINT, Number);
pg.types.setTypeParser(NUMERIC, Number);
pg.types.setTypeParser(BOOL, (text) => (text === 't' ? 1 : 0));

let client = null;
let session = firstSession - 1;
async function connected() {
  if (client !== null) return client;
  session += 1;
  const fresh = new pg.Client({
    connectionString: url,
    application_name: applicationName,
    connectionTimeoutMillis: 10000,
    keepAlive: true,
  });
  fresh.on('error', () => { if (client === fresh) client = null; });
  await fresh.connect();
  await fresh.query(
    "SET lock_timeout = '30s'; SET statement_timeout = '60s'; SET idle_in_transaction_session_timeout = '120s'",
  );
  client = fresh;
  return fresh;
}

function reply(id, message) {
  message.id = id;
  port.postMessage(message);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

function failure(error) {
  return {
    ok: false,
    message: String(error && error.message ? error.message : error),
    code: error && typeof error.code === 'string' ? error.code : undefined,
    lost: client === null,
    session,
  };
}

async function run(request) {
  // A statement of an open transaction must run on the session that began it: on a new one it
  // would run, and commit, alone.
  if (request.session !== undefined && (client === null || request.session !== session)) {
    client = null;
    return { ok: false, message: 'the PostgreSQL connection was lost during a transaction', lost: true, session };
  }
  try {
    const db = await connected();
    const result = request.params === undefined
      ? await db.query(request.sql)
      : await db.query({ text: request.sql, values: request.params, name: request.name });
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    // PostgreSQL answers the COMMIT of a transaction an error aborted with a ROLLBACK, and no
    // error: whoever committed must learn that nothing was.
    if (request.sql === 'COMMIT' && last.command === 'ROLLBACK') {
      return { ok: false, message: 'the transaction had failed: PostgreSQL rolled it back instead of committing', code: '25P02', lost: false, session };
    }
    return { ok: true, rows: last.rows ?? [], rowCount: last.rowCount ?? 0, session };
  } catch (error) {
    return failure(error);
  }
}

// The first failure of a sent write (one nobody waits for), until a waited request reports it.
let sentFailed = null;
const ENDS = /^\\s*(COMMIT|ROLLBACK)\\b/i;

async function handle(request) {
  if (request.op === 'close') {
    if (client !== null) await client.end();
    client = null;
    reply(request.id, { ok: true, rows: [], rowCount: 0 });
    return;
  }
  if (request.sent) {
    // After a failure the transaction can only end: PostgreSQL refuses the rest once a statement
    // failed, and a write the client could not encode must not be followed by more of it either.
    if (sentFailed !== null) return;
    const outcome = await run(request);
    if (!outcome.ok) sentFailed = outcome;
    return;
  }
  if (sentFailed !== null) {
    const failed = sentFailed;
    sentFailed = null;
    const ends = ENDS.exec(request.sql);
    // A rollback is what the failure calls for: it runs, and answers for itself.
    if (ends !== null && ends[1].toUpperCase() === 'ROLLBACK') {
      reply(request.id, await run(request));
      return;
    }
    // Anything else is refused with the write's own error. A COMMIT is turned into a ROLLBACK:
    // the transaction must end, and none of it may stay (a write that failed in the client,
    // say a value it cannot encode, leaves the server's transaction open and unaborted).
    if (ends !== null) await run({ sql: 'ROLLBACK', session: request.session });
    reply(request.id, failed);
    return;
  }
  reply(request.id, await run(request));
}

// One request at a time, in the order sent: a sent write runs before the statements after it.
let queue = Promise.resolve();
port.on('message', (request) => {
  queue = queue
    .then(() => handle(request))
    .catch((error) => {
      // Only a close can get here (run answers for every statement); a sent write has no waiter.
      if (!request.sent) reply(request.id, failure(error));
    });
});
`;

export interface QueryResult {
  rows: Record<string, unknown>[];
  rowCount: number;
}

interface Reply {
  ok: boolean;
  rows?: Record<string, unknown>[];
  rowCount?: number;
  message?: string;
  code?: string;
  lost?: boolean;
  session?: number;
  /** The request this answers. */
  id?: number;
}

/** A PostgreSQL error as the features see it: the server's message and SQLSTATE. */
export class PostgresError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    /** The connection was lost: any transaction on it is gone. */
    readonly connectionLost: boolean,
  ) {
    super(message);
    this.name = 'PostgresError';
  }
}

/**
 * A request the worker did not answer within this long is reported as failed and the worker
 * replaced: past the statement timeout (60 s) plus the connect timeout (10 s). Writes sent
 * before it (`send`) run first and count against it too: a few 100-row INSERTs of one
 * transaction (`RowBatches`), milliseconds each.
 */
const REPLY_TIMEOUT_MS = 75_000;
const SESSIONS_PER_WORKER = 1_000_000;
/** SQLSTATE 0A000 "cached plan must not change result type". */
const CACHED_PLAN_CHANGED = '0A000';
/** Named (server-side prepared) statements per connection; dynamic SQL past this runs unnamed. */
const MAX_NAMED = 2000;

/** Values the worker hands back as `Uint8Array` (structured clone) return as `Buffer`. */
function asBuffers(row: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(row)) {
    if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
      row[key] = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
  }
  return row;
}

/**
 * One PostgreSQL connection, called synchronously: the CA's features run their statements and
 * transactions as synchronous code (better-sqlite3's model, so no other request interleaves with
 * a transaction), and this keeps that model on PostgreSQL. The connection lives on a worker
 * thread; each call posts the request and waits on a shared signal for the answer.
 */
export class PostgresConnection {
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private port!: MessagePort;
  private worker!: Worker;
  private readonly names = new Map<string, string>();
  /** Part of every statement name: a new one after a schema change retired the old plans. */
  private namePrefix = 'lantern_0_';
  private renames = 0;
  private workers = 0;
  private requests = 0;
  private closed = false;
  /**
   * Which server session answered last: it changes when the worker reconnects, and with it
   * everything a session holds (advisory locks, an open transaction) is gone.
   */
  session = 0;

  constructor(
    private readonly url: string,
    private readonly applicationName = 'lantern-ca',
  ) {
    this.spawn();
  }

  /**
   * Runs `sql` with `params` (extended protocol), or as a script of statements without them.
   * `inSession`: the statement belongs to the transaction begun on that session, and fails
   * rather than run on another.
   */
  query(sql: string, params?: readonly unknown[], inSession?: number): QueryResult {
    if (this.closed)
      throw new PostgresError('the PostgreSQL connection is closed', undefined, true);
    const request: { sql: string; params?: readonly unknown[]; name?: string; session?: number } = {
      sql,
    };
    if (params !== undefined) {
      request.params = params;
      const name = this.nameOf(sql);
      if (name !== undefined) request.name = name;
    }
    if (inSession !== undefined) request.session = inSession;
    const reply = this.call(request);
    this.session = reply.session ?? this.session;
    if (!reply.ok) {
      // Another instance's migration changed a table under a prepared `SELECT *`: PostgreSQL
      // refuses the old plan; statements are prepared afresh from the next call on.
      if (reply.code === CACHED_PLAN_CHANGED) {
        this.renames += 1;
        this.namePrefix = `lantern_${this.renames}_`;
        this.names.clear();
      }
      throw new PostgresError(reply.message ?? 'PostgreSQL error', reply.code, reply.lost === true);
    }
    return { rows: (reply.rows ?? []).map(asBuffers), rowCount: reply.rowCount ?? 0 };
  }

  /**
   * Sends a write without waiting for it (without `params`: a command, as `query` runs it): the
   * worker runs it before any later request, and the next request that waits is answered with
   * its failure, if it failed, instead of running (a COMMIT is run as a ROLLBACK, so nothing of
   * the transaction stays; a ROLLBACK runs and answers for itself).
   */
  send(sql: string, params: readonly unknown[] | undefined, inSession: number): void {
    if (this.closed)
      throw new PostgresError('the PostgreSQL connection is closed', undefined, true);
    const request: { sql: string; params?: readonly unknown[]; name?: string; session: number } = {
      sql,
      session: inSession,
    };
    if (params !== undefined) {
      request.params = params;
      const name = this.nameOf(sql);
      if (name !== undefined) request.name = name;
    }
    this.requests += 1;
    this.port.postMessage({ ...request, sent: true, id: this.requests });
  }

  close(): void {
    if (this.closed) return;
    try {
      this.call({ op: 'close' });
    } finally {
      this.closed = true;
      void this.worker.terminate();
    }
  }

  private spawn(): void {
    const { port1, port2 } = new MessageChannel();
    this.workers += 1;
    this.names.clear();
    this.port = port1;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        pgPath: createRequire(import.meta.url).resolve('pg'),
        port: port2,
        signal: this.signal,
        url: this.url,
        applicationName: this.applicationName,
        // Sessions are numbered across workers, so a new worker's first is a new session too.
        firstSession: this.workers * SESSIONS_PER_WORKER + 1,
      },
      transferList: [port2],
    });
    this.worker.unref();
    this.port.unref();
  }

  private nameOf(sql: string): string | undefined {
    let name = this.names.get(sql);
    if (name === undefined && this.names.size < MAX_NAMED) {
      name = `${this.namePrefix}${this.names.size + 1}`;
      this.names.set(sql, name);
    }
    return name;
  }

  private call(request: object): Reply {
    this.requests += 1;
    const id = this.requests;
    Atomics.store(this.signal, 0, 0);
    this.port.postMessage({ ...request, id });
    // A wake-up is not an answer: the notify of the previous reply can arrive after this wait
    // began. Only the signal set, and then a reply with this request's id, are.
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    while (Atomics.load(this.signal, 0) === 0) {
      const left = deadline - Date.now();
      if (left <= 0) {
        // The worker may be stuck on a dead socket: a new one, with a new connection, takes over.
        void this.worker.terminate();
        this.spawn();
        throw new PostgresError('PostgreSQL did not answer in time', undefined, true);
      }
      Atomics.wait(this.signal, 0, 0, left);
    }
    for (;;) {
      const message = receiveMessageOnPort(this.port);
      if (message === undefined) {
        throw new PostgresError('the PostgreSQL worker gave no answer', undefined, true);
      }
      const reply = message.message as Reply;
      if (reply.id === id) return reply;
    }
  }
}
