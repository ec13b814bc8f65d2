import type {
  Actor,
  CatalogueEventType,
  Clock,
  DataResidency,
  EventEnvelope,
  EventSource,
  EventValidator,
  IdGenerator,
  UpcastEvent,
} from '@lantern/shared';
import {
  ConcurrencyConflictError,
  RETENTION_CLASS,
  canonicalJson,
  schemaUri,
  upcast,
} from '@lantern/shared';
import type { SqlDatabase, SqlStatement } from './sql-database.js';
import { hash as sha256Once } from 'node:crypto';
import { tracedAppend } from '../observability/tracing.js';
import { GroupCommit } from './group-commit.js';
import { RowBatches } from './row-batches.js';
import { statement } from './statements.js';
import type { WriteBehindDatabase } from './write-behind.js';
import { writeBehind } from './write-behind.js';

export interface NewEvent {
  eventType: string;
  eventVersion?: number;
  aggregateId: string;
  /** Version the aggregate must be at before this event; omit to append unconditionally. */
  expectedVersion?: number;
  tenantId: string;
  actor: Actor;
  correlationId: string;
  causationId?: string;
  payload: Record<string, unknown>;
  occurredAt?: string;
  eventId?: string;
  /**
   * The caller checked this event against its envelope and payload schemas in the same
   * transaction (sync ingest checks each pushed event before accepting it), so `append` does not
   * check it a second time.
   */
  validated?: boolean;
  /** Who wrote it, when not this CA: sync ingest names the device whose agent recorded it. */
  source?: EventSource;
}

export interface RecordedEvent extends EventEnvelope {
  position: number;
  aggregateType: string;
  aggregateId: string;
  aggregateVersion: number;
  recordedAt: string;
  hash: string;
}

/**
 * A recorded event typed by the catalogue at the version projections read: `switch
 * (event.eventType)` narrows its payload, and an event stored at an older version arrives
 * upcast, so a projection handles each type's current version only.
 */
export type ProjectedEvent = UpcastEvent<RecordedEvent>;

/**
 * Every stored event passed the catalogue's validator at append, so its payload is the one the
 * catalogue declares for its type and version; `upcast` brings it to the version projections read.
 */
function projected(event: RecordedEvent): ProjectedEvent {
  return upcast(event) as ProjectedEvent;
}

/**
 * A read model kept in the same transaction as the events it is built from. `reset` empties
 * its tables so `rebuildProjections` can replay every event through `apply` again.
 */
export interface Projection {
  readonly name: string;
  readonly tables: readonly string[];
  /**
   * The event types `apply` acts on, when it declares them: the store passes it no other. An
   * asynchronous `apply` costs a promise for every event it is handed, even one it ignores.
   * `projection-events.test.ts` proves that it ignores every type left out.
   */
  readonly events?: ReadonlySet<CatalogueEventType>;
  /** Its writes may be sent without waiting (`writeBehind`): their outcome is not its to read. */
  apply(db: WriteBehindDatabase, event: ProjectedEvent): Promise<void> | void;
}

function handles(projection: Projection, event: ProjectedEvent): boolean {
  return projection.events === undefined || projection.events.has(event.eventType);
}

export interface EventQuery {
  after?: number;
  limit?: number;
  tenantId?: string;
  aggregateType?: string;
  aggregateId?: string;
  eventType?: string;
  actorId?: string;
  from?: string;
  to?: string;
  /** Events about a device or recorded by it. */
  deviceId?: string;
}

interface EventRow {
  position: number;
  event_id: string;
  event_type: string;
  event_version: number;
  aggregate_type: string;
  aggregate_id: string;
  aggregate_version: number;
  tenant_id: string;
  actor_type: string;
  actor_id: string;
  correlation_id: string;
  causation_id: string | null;
  occurred_at: string;
  recorded_at: string;
  payload: string;
  hash: string;
  schema_uri: string | null;
  source: string | null;
  ingested_at: string | null;
  retention_class: string | null;
  data_residency: string | null;
}

/** The device an event is about or came from, indexed so a device's history is one lookup. */
function deviceOf(
  aggregateType: string,
  aggregateId: string,
  envelope: EventEnvelope,
): string | null {
  const fromPayload = envelope.payload['deviceId'];
  if (typeof fromPayload === 'string') return fromPayload;
  if (envelope.actor.type === 'device') return envelope.actor.id;
  return aggregateType === 'device' ? aggregateId : null;
}

export const GENESIS_HASH = '0'.repeat(64);

const INSERT_EVENTS = `INSERT INTO events (position, event_id, event_type, event_version,
  aggregate_type, aggregate_id, aggregate_version, tenant_id, actor_type, actor_id,
  correlation_id, causation_id, occurred_at, recorded_at, payload, hash, device_id,
  schema_uri, source, ingested_at, retention_class, data_residency)`;

/**
 * The hashed form of an event: its envelope (with the fields the store stamps, on rows that have
 * them) and store coordinates, keys sorted.
 */
export function eventHash(previousHash: string, event: Omit<RecordedEvent, 'hash'>): string {
  return sha256Once('sha256', previousHash + canonicalJson(event), 'hex');
}

type HashedEvent = Omit<RecordedEvent, 'hash'>;

/**
 * Every field of a hashed event: the type makes a field added to the envelope or the store's
 * coordinates a compile error here until it is listed, so `appendedEventHash` never leaves it out.
 */
const HASHED_FIELDS: Record<keyof HashedEvent, true> = {
  actor: true,
  aggregateId: true,
  aggregateType: true,
  aggregateVersion: true,
  causationId: true,
  correlationId: true,
  dataResidency: true,
  eventId: true,
  eventType: true,
  eventVersion: true,
  ingestedAt: true,
  occurredAt: true,
  partitionKey: true,
  payload: true,
  position: true,
  recordedAt: true,
  retentionClass: true,
  schemaUri: true,
  source: true,
  tenantId: true,
};

/** The fields in `canonicalJson`'s key order (UTF-16 code units), each with its quoted key. */
const HASHED_ORDER = (Object.keys(HASHED_FIELDS) as (keyof HashedEvent)[])
  .sort()
  .map((field) => [field, `${JSON.stringify(field)}:`] as const);

/**
 * `eventHash` of an event `append` built, which holds no field but these: the top level is
 * written in its known sorted order instead of sorting twenty keys per event (the canonical JSON
 * was the largest part of the hash chain's cost). Same bytes: `verifyChain` checks every row with
 * `eventHash`.
 */
function appendedEventHash(previousHash: string, event: HashedEvent): string {
  let out = '';
  for (const [field, key] of HASHED_ORDER) {
    const value = event[field];
    if (value === undefined) continue;
    out += `${out === '' ? '{' : ','}${key}${canonicalJson(value)}`;
  }
  return sha256Once('sha256', `${previousHash}${out}}`, 'hex');
}

function toRecorded(row: EventRow): RecordedEvent {
  const event: RecordedEvent = {
    position: row.position,
    eventId: row.event_id,
    eventType: row.event_type,
    eventVersion: row.event_version,
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    aggregateVersion: row.aggregate_version,
    occurredAt: row.occurred_at,
    recordedAt: row.recorded_at,
    tenantId: row.tenant_id,
    actor: { type: row.actor_type as Actor['type'], id: row.actor_id },
    correlationId: row.correlation_id,
    partitionKey: row.aggregate_id,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    hash: row.hash,
  };
  if (row.causation_id !== null) event.causationId = row.causation_id;
  if (row.schema_uri !== null) event.schemaUri = row.schema_uri;
  if (row.source !== null) event.source = JSON.parse(row.source) as EventSource;
  if (row.ingested_at !== null) event.ingestedAt = row.ingested_at;
  if (row.retention_class !== null) event.retentionClass = row.retention_class;
  if (row.data_residency !== null) event.dataResidency = row.data_residency as DataResidency;
  return event;
}

/**
 * What the store stamps on each event's envelope. `schemaUri` resolves against `publicUrl`;
 * without a residency (none configured) events carry none rather than a guessed one.
 */
export interface EnvelopeStamp {
  publicUrl: string;
  source: EventSource;
  dataResidency?: DataResidency;
}

export interface EventStoreOptions {
  clock: Clock;
  ids: IdGenerator;
  validator: EventValidator;
  projections: readonly Projection[];
  /** Absent for stores opened only to read (`lantern-ca events`, `audit verify`). */
  stamp?: EnvelopeStamp;
}

function streamKeyOf(aggregateType: string, aggregateId: string): string {
  return `${aggregateType}\u0000${aggregateId}`;
}

/**
 * Append-only event store on SQLite. Each append validates every payload against its schema,
 * checks the aggregate's expected version, chains the row hash to the previous row, and runs
 * the projections, all in one transaction: an error anywhere writes nothing.
 */
export class EventStore {
  private readonly versionOf: SqlStatement;
  private readonly versionsOf: SqlStatement;
  private readonly head: SqlStatement;
  /** One transaction function for every call, rather than one built per call on a hot path. */
  private readonly runTransaction: (fn: () => unknown) => Promise<unknown>;
  /** What the projections write through: an append ends with its events' INSERT, which waits. */
  private readonly projectionDb: WriteBehindDatabase;
  private readonly grouped = new GroupCommit(
    (fn) => this.transaction(fn),
    () => this.db.inTransaction,
  );

  constructor(
    readonly db: SqlDatabase,
    private readonly options: EventStoreOptions,
  ) {
    // The newest row by the unique index, not MAX(): a plan PostgreSQL cached while the stream
    // was short would otherwise aggregate over the whole stream once it is long.
    this.versionOf = db.prepare(
      'SELECT aggregate_version AS version FROM events WHERE aggregate_type = ? AND aggregate_id = ? ORDER BY aggregate_version DESC LIMIT 1',
    );
    // An append touching several streams (an enrollment: token, device, binding) reads their
    // versions in one statement, one index probe per stream: on PostgreSQL one round trip.
    this.versionsOf = db.prepare(
      `SELECT json_extract(stream.value, '$.type') AS type, json_extract(stream.value, '$.id') AS id,
       (SELECT aggregate_version FROM events
        WHERE aggregate_type = json_extract(stream.value, '$.type')
        AND aggregate_id = json_extract(stream.value, '$.id')
        ORDER BY aggregate_version DESC LIMIT 1) AS version
       FROM json_each(?) AS stream`,
    );
    this.head = db.prepare('SELECT position, hash FROM events ORDER BY position DESC LIMIT 1');
    this.runTransaction = db.transaction((fn: () => unknown) => fn());
    this.projectionDb = writeBehind(db);
  }

  /** Runs `fn` in a transaction (nested calls join the outer one). */
  transaction<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.runTransaction(fn) as Promise<T>;
  }

  /**
   * `transaction`, but sharing its COMMIT (the fsync) with the other grouped transactions
   * queued meanwhile (`GroupCommit`); resolves once that commit is durable. For hot, concurrent
   * writes.
   */
  groupedTransaction<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.grouped.run(fn);
  }

  /** Waits for the grouped transactions queued or committing: the store may then close. */
  drain(): Promise<void> {
    return this.grouped.drain();
  }

  async aggregateVersion(aggregateType: string, aggregateId: string): Promise<number> {
    const row = (await this.versionOf.get(aggregateType, aggregateId)) as
      { version: number } | undefined;
    return row?.version ?? 0;
  }

  append(events: readonly NewEvent[]): Promise<RecordedEvent[]> {
    return tracedAppend(events, () => this.appendInTransaction(events));
  }

  private appendInTransaction(events: readonly NewEvent[]): Promise<RecordedEvent[]> {
    return this.transaction(async () => {
      const { clock, ids, projections } = this.options;
      const validator: EventValidator = this.options.validator;
      const recordedAt = new Date(clock.now()).toISOString();
      const last = (await this.head.get()) as { position: number; hash: string } | undefined;
      let position = last?.position ?? 0;
      let previousHash = last?.hash ?? GENESIS_HASH;
      const pendingVersions = await this.storedVersions(events);
      const recorded: RecordedEvent[] = [];
      const rows = new RowBatches(this.db, INSERT_EVENTS);

      // Every check first (schema, expected versions), then the rows and projections: a refusal
      // is the same error on both engines, whatever a projection's write-behind would report.
      const checked = [];
      for (const input of events) {
        const eventVersion = input.eventVersion ?? 1;
        const definition = validator.definition(input.eventType, eventVersion);
        const envelope: EventEnvelope = {
          eventId: input.eventId ?? ids.next('evt'),
          eventType: input.eventType,
          eventVersion,
          occurredAt: input.occurredAt ?? recordedAt,
          tenantId: input.tenantId,
          actor: input.actor,
          correlationId: input.correlationId,
          partitionKey: input.aggregateId,
          payload: input.payload,
        };
        if (input.causationId !== undefined) envelope.causationId = input.causationId;
        if (input.validated !== true) validator.assertValid(envelope);
        // Stamped after validation: a producer's envelope is checked as the producer wrote it,
        // and these fields are the store's, so they are part of the row's hash from here on.
        const stamp = this.options.stamp;
        if (stamp && definition) {
          envelope.schemaUri = schemaUri(definition, stamp.publicUrl);
          envelope.source = input.source ?? stamp.source;
          envelope.ingestedAt = recordedAt;
          envelope.retentionClass = RETENTION_CLASS;
          if (stamp.dataResidency !== undefined) envelope.dataResidency = stamp.dataResidency;
        }
        const aggregateType = definition?.aggregate ?? 'unknown';
        const streamKey = streamKeyOf(aggregateType, input.aggregateId);
        // Asked alone if the several-stream read did not give this id back as it was sent.
        const current =
          pendingVersions.get(streamKey) ??
          (await this.aggregateVersion(aggregateType, input.aggregateId));
        if (input.expectedVersion !== undefined && input.expectedVersion !== current) {
          throw new ConcurrencyConflictError(
            `${aggregateType} ${input.aggregateId} is at version ${current}, expected ${input.expectedVersion}`,
          );
        }
        pendingVersions.set(streamKey, current + 1);
        checked.push({ input, envelope, eventVersion, aggregateType, current });
      }

      for (const { input, envelope, eventVersion, aggregateType, current } of checked) {
        position += 1;
        // The envelope is this append's own object: completed in place, not copied. A spread
        // with fields after it (`{ ...envelope, position }`) cost ~10 µs per event in V8 here,
        // ten times `Object.assign`, and made every later copy of the event as slow.
        const unhashed: HashedEvent = Object.assign(envelope, {
          position,
          aggregateType,
          aggregateId: input.aggregateId,
          aggregateVersion: current + 1,
          recordedAt,
        });
        const hash = appendedEventHash(previousHash, unhashed);
        previousHash = hash;
        rows.add([
          position,
          envelope.eventId,
          envelope.eventType,
          eventVersion,
          aggregateType,
          input.aggregateId,
          current + 1,
          envelope.tenantId,
          envelope.actor.type,
          envelope.actor.id,
          envelope.correlationId,
          envelope.causationId ?? null,
          envelope.occurredAt,
          recordedAt,
          JSON.stringify(envelope.payload),
          hash,
          deviceOf(aggregateType, input.aggregateId, envelope),
          envelope.schemaUri ?? null,
          envelope.source ? JSON.stringify(envelope.source) : null,
          envelope.ingestedAt ?? null,
          envelope.retentionClass ?? null,
          envelope.dataResidency ?? null,
        ]);
        const event: RecordedEvent = Object.assign(unhashed, { hash });
        // Upcast once for all projections: per projection, it copied the whole envelope a dozen
        // times per event (most of the sync ingest regression of the envelope change).
        const view = projected(event);
        for (const projection of projections) {
          if (!handles(projection, view)) continue;
          // Awaited only when it returned a promise: a turn of the microtask queue per
          // projection and event was measurable on the sync ingest.
          const applied = projection.apply(this.projectionDb, view);
          if (applied !== undefined) await applied;
        }
        recorded.push(event);
      }
      // A few statements for the whole append rather than one per event, each full batch written
      // while the next is built (projections never read `events`, only their own tables).
      await rows.flush();
      return recorded;
    });
  }

  /** The stored version of every stream `events` append to, by `streamKeyOf`. */
  private async storedVersions(events: readonly NewEvent[]): Promise<Map<string, number>> {
    const streams = new Map<string, { type: string; id: string }>();
    for (const input of events) {
      const type = this.aggregateTypeOf(input);
      streams.set(streamKeyOf(type, input.aggregateId), { type, id: input.aggregateId });
    }
    const versions = new Map<string, number>();
    if (streams.size === 0) return versions;
    if (streams.size === 1) {
      for (const [key, { type, id }] of streams) {
        versions.set(key, await this.aggregateVersion(type, id));
      }
      return versions;
    }
    const rows = (await this.versionsOf.all(JSON.stringify([...streams.values()]))) as {
      type: string;
      id: string;
      version: number | null;
    }[];
    for (const { type, id, version } of rows) versions.set(streamKeyOf(type, id), version ?? 0);
    return versions;
  }

  private aggregateTypeOf(input: NewEvent): string {
    return (
      this.options.validator.definition(input.eventType, input.eventVersion ?? 1)?.aggregate ??
      'unknown'
    );
  }

  async read(query: EventQuery = {}): Promise<RecordedEvent[]> {
    const { where, params } = this.filter(query);
    params.push(Math.min(query.limit ?? 100, 10_000));
    const rows = (await this.db
      .prepare(`SELECT * FROM events WHERE ${where} ORDER BY position LIMIT ?`)
      .all(...params)) as EventRow[];
    return rows.map(toRecorded);
  }

  /** How many events `read` would find without a limit. */
  async count(query: Omit<EventQuery, 'limit'> = {}): Promise<number> {
    const { where, params } = this.filter(query);
    const row = (await this.db
      .prepare(`SELECT COUNT(*) AS n FROM events WHERE ${where}`)
      .get(...params)) as {
      n: number;
    };
    return row.n;
  }

  private filter(query: EventQuery): { where: string; params: unknown[] } {
    const where: string[] = ['position > ?'];
    const params: unknown[] = [query.after ?? 0];
    const filters: [keyof EventQuery, string][] = [
      ['tenantId', 'tenant_id = ?'],
      ['aggregateType', 'aggregate_type = ?'],
      ['aggregateId', 'aggregate_id = ?'],
      ['eventType', 'event_type = ?'],
      ['actorId', 'actor_id = ?'],
      ['from', 'occurred_at >= ?'],
      ['to', 'occurred_at < ?'],
    ];
    for (const [key, clause] of filters) {
      if (query[key] !== undefined) {
        where.push(clause);
        params.push(query[key]);
      }
    }
    if (query.deviceId !== undefined) {
      where.push('device_id = ?');
      params.push(query.deviceId);
    }
    return { where: where.join(' AND '), params };
  }

  /**
   * The newest event of one of `eventTypes` in an aggregate's stream, with that `kind` in its
   * payload when one is named (MFA events of several kinds share their types). Walks the stream
   * from its end on the stream's own index: newest by `aggregate_version`, which rises with
   * `position` because `append` numbers a stream's versions in its write transaction. A store that
   * appends concurrently (PostgreSQL, issue 17) must keep that true.
   */
  async lastInStream(
    aggregateType: string,
    aggregateId: string,
    eventTypes: readonly string[],
    kind?: string,
  ): Promise<RecordedEvent | undefined> {
    const row = (await statement(
      this.db,
      `SELECT * FROM events WHERE aggregate_type = ? AND aggregate_id = ?
       AND event_type IN (SELECT value FROM json_each(?))
       AND (CAST(? AS TEXT) IS NULL OR json_extract(payload, '$.kind') = ?)
       ORDER BY aggregate_version DESC LIMIT 1`,
    ).get(aggregateType, aggregateId, JSON.stringify(eventTypes), kind ?? null, kind ?? null)) as
      EventRow | undefined;
    return row === undefined ? undefined : toRecorded(row);
  }

  /** The tenant's newest event of `eventType`. */
  async lastOfTenant(tenantId: string, eventType: string): Promise<RecordedEvent | undefined> {
    const row = (await statement(
      this.db,
      'SELECT * FROM events WHERE event_type = ? AND tenant_id = ? ORDER BY position DESC LIMIT 1',
    ).get(eventType, tenantId)) as EventRow | undefined;
    return row === undefined ? undefined : toRecorded(row);
  }

  /** The ids among `eventIds` that are stored, in one query whatever their number. */
  async storedEventIds(eventIds: readonly string[]): Promise<Set<string>> {
    // One index probe per id, as a subquery per element: as a join, PostgreSQL may keep a plan
    // made while the table was small, a hash join that reads every event.
    const rows = (await statement(
      this.db,
      `SELECT (SELECT stored.event_id FROM events AS stored WHERE stored.event_id = pushed.value)
       AS event_id FROM json_each(?) AS pushed`,
    ).all(JSON.stringify(eventIds))) as { event_id: string | null }[];
    const stored = new Set<string>();
    for (const { event_id: eventId } of rows) if (eventId !== null) stored.add(eventId);
    return stored;
  }

  async *readAll(batchSize = 1000): AsyncGenerator<RecordedEvent> {
    let after = 0;
    for (;;) {
      const batch = await this.read({ after, limit: batchSize });
      if (batch.length === 0) return;
      yield* batch;
      after = batch[batch.length - 1]?.position ?? after;
    }
  }

  async headPosition(): Promise<number> {
    return ((await this.head.get()) as { position: number } | undefined)?.position ?? 0;
  }

  /** The last position and its hash: position 0 and the genesis hash while the log is empty. */
  async chainHead(): Promise<{ position: number; hash: string }> {
    const last = (await this.head.get()) as { position: number; hash: string } | undefined;
    return { position: last?.position ?? 0, hash: last?.hash ?? GENESIS_HASH };
  }

  /** The hash stored at `position`; undefined when no event is there. */
  async hashAt(position: number): Promise<string | undefined> {
    const row = (await statement(this.db, 'SELECT hash FROM events WHERE position = ?').get(
      position,
    )) as { hash: string } | undefined;
    return row?.hash;
  }

  /** When the first event after `position` was recorded; undefined when there is none. */
  async recordedAtAfter(position: number): Promise<string | undefined> {
    const row = (await statement(
      this.db,
      'SELECT recorded_at FROM events WHERE position > ? ORDER BY position LIMIT 1',
    ).get(position)) as { recorded_at: string } | undefined;
    return row?.recorded_at;
  }

  /** Empties every projection's tables and replays all events through them, in one transaction. */
  async rebuildProjections(onProgress?: (done: number, total: number) => void): Promise<number> {
    const total = await this.headPosition();
    return this.transaction(async () => {
      for (const projection of this.options.projections) {
        for (const table of projection.tables) await this.db.prepare(`DELETE FROM ${table}`).run();
      }
      let done = 0;
      for await (const event of this.readAll()) {
        const view = projected(event);
        for (const projection of this.options.projections) {
          if (handles(projection, view)) await projection.apply(this.projectionDb, view);
        }
        done += 1;
        if (onProgress && done % 1000 === 0) onProgress(done, total);
      }
      onProgress?.(done, total);
      return done;
    });
  }
}
