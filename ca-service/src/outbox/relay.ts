import type { Clock, Logger } from '@lantern/shared';
import type { JetStreamManager } from '@nats-io/jetstream';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EventStore, RecordedEvent } from '../store/event-store.js';
import { Cursor } from '../store/cursor.js';
import { leaseOf } from '../store/lease.js';
import { PostgresError } from '../store/postgres/postgres-error.js';
import type { Lease } from '../store/lease.js';
import { DeadLetterQueue } from './dead-letter-queue.js';
import { connectNats } from './connect-nats.js';
import { ensureIdentityStreams } from './identity-streams.js';
import { PublishPipeline } from './publish-pipeline.js';

export interface OutboxRelayOptions {
  store: EventStore;
  clock: Clock;
  logger: Logger;
  /** NATS server URL(s). Without them nothing is published and the cursor waits: nothing is lost. */
  servers?: string | string[];
  /** Name of the persisted cursor; one per relay target. */
  name?: string;
  /** Publish acks in flight at once. */
  window?: number;
  /** Refusals of one event before it is parked in the DLQ. */
  maxAttempts?: number;
  retry?: { initialMs?: number; maxMs?: number };
  publishTimeoutMs?: number;
  /** How often an idle relay looks for new events. */
  pollMs?: number;
  /** The cursor is written at most this often (a crash re-sends at most that much, de-duplicated). */
  cursorFlushMs?: number;
  /** How often an instance that does not hold the relay lease asks for it again. */
  leasePollMs?: number;
  replicas?: number;
  /** Per-topic counts for the metrics (`identity_outbox_publish_*`); topic = event type. */
  counters?: RelayCounters;
}

export interface RelayCounters {
  published(topic: string): void;
  failed(topic: string, reason: 'transient' | 'no_stream' | 'refused'): void;
}

/** The numbers the metrics endpoint exposes (`identity_outbox_*`). */
export interface RelayStatus {
  running: boolean;
  connected: boolean;
  /** Every event at or before this position is in JetStream (or the DLQ). */
  cursor: number;
  head: number;
  /** head − cursor: events not yet published. */
  depth: number;
  /** Age of the oldest unpublished event (0 when none). */
  lagSeconds: number;
  inFlight: number;
  /** Since start: events acked by the stream, of which `duplicates` it already had. */
  published: number;
  duplicates: number;
  /** Events per second acked over the last 10 seconds. */
  publishRate: number;
  /** Since start: failed publish attempts (each retried). */
  failures: number;
  /** Events this relay ever parked in the DLQ stream. */
  dlq: number;
}

const RATE_WINDOW_SECONDS = 10;

/**
 * The outbox relay (docs/architecture.md §6): the event store is the outbox; this publishes every event after
 * its persisted cursor to JetStream, `Nats-Msg-Id` = event id so the stream de-duplicates
 * re-sends. Publishes are pipelined (a window of acks in flight) and the cursor only moves past
 * a contiguous prefix of settled events, so a crash or a broker outage loses nothing: what was
 * not acked is sent again. Within a window, retries may reorder messages in the stream;
 * consumers order by the `Lantern-Position` header.
 */
export class OutboxRelay {
  private readonly cursor: Cursor;
  /** Several CA instances on one PostgreSQL database: only the holder publishes. */
  private readonly lease: Lease;
  private leading = false;
  private readonly dlq: DeadLetterQueue;
  private readonly settings: Required<
    Pick<
      OutboxRelayOptions,
      'window' | 'maxAttempts' | 'publishTimeoutMs' | 'pollMs' | 'leasePollMs'
    >
  > & { retry: { initialMs: number; maxMs: number } };
  private running = false;
  private connected = false;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private nc: NatsConnection | undefined;
  private pipeline: PublishPipeline | undefined;
  private published = 0;
  private duplicates = 0;
  private failuresBefore = 0;
  private readonly perSecond: { second: number; count: number }[] = [];

  constructor(private readonly options: OutboxRelayOptions) {
    this.cursor = new Cursor(
      options.store.db,
      options.clock,
      options.name ?? 'relay:identity',
      options.cursorFlushMs ?? 200,
      () => this.leading && this.lease.held(),
    );
    this.lease = leaseOf(options.store.db, this.cursor.name);
    this.dlq = new DeadLetterQueue(options.store.db, options.clock);
    this.settings = {
      window: options.window ?? 256,
      maxAttempts: options.maxAttempts ?? 8,
      publishTimeoutMs: options.publishTimeoutMs ?? 5_000,
      pollMs: options.pollMs ?? 250,
      leasePollMs: options.leasePollMs ?? 1_000,
      retry: { initialMs: options.retry?.initialMs ?? 200, maxMs: options.retry?.maxMs ?? 15_000 },
    };
  }

  /** Returns at once; connecting and publishing go on in the background until `stop()`. */
  start(): void {
    if (this.running || this.options.servers === undefined) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.run().catch((error: unknown) => {
      this.options.logger.error(
        { event: 'relay.crashed', err: error },
        'outbox relay stopped on an unexpected error',
      );
      this.running = false;
    });
  }

  async stop(): Promise<void> {
    if (!this.running && this.loop === undefined) return;
    this.running = false;
    this.abort.abort();
    this.pipeline?.close();
    await this.loop;
    this.loop = undefined;
    if (this.leading) await this.cursor.flush();
    this.leading = false;
    await this.lease.release();
    await this.nc?.close();
    this.nc = undefined;
    this.connected = false;
  }

  async status(): Promise<RelayStatus> {
    const { store, clock } = this.options;
    const head = await store.headPosition();
    // A standby instance reports the leader's progress, which the store holds.
    const position = this.leading
      ? this.cursor.position
      : await Cursor.read(store.db, this.cursor.name);
    const oldest = head > position ? await store.recordedAtAfter(position) : undefined;
    const now = clock.now();
    const nowSecond = Math.floor(now / 1000);
    const recent = this.perSecond
      .filter((bucket) => bucket.second > nowSecond - RATE_WINDOW_SECONDS)
      .reduce((sum, bucket) => sum + bucket.count, 0);
    return {
      running: this.running,
      connected: this.connected,
      cursor: position,
      head,
      depth: head - position,
      lagSeconds: oldest ? Math.max(0, (now - Date.parse(oldest)) / 1000) : 0,
      inFlight: this.pipeline?.size ?? 0,
      published: this.published,
      duplicates: this.duplicates,
      publishRate: recent / RATE_WINDOW_SECONDS,
      failures: this.failuresBefore + (this.pipeline?.failures ?? 0),
      dlq: await this.dlq.count('relay'),
    };
  }

  /** Waits until this instance holds the relay lease; false when stopped first. */
  private async leadership(): Promise<boolean> {
    const { logger } = this.options;
    let announced = false;
    while (this.running) {
      if (await this.lease.tryAcquire()) {
        // Where the previous holder stopped: its cursor is in the shared store.
        await this.cursor.reload();
        this.leading = true;
        if (announced) {
          logger.info(
            { event: 'relay.lease_taken', cursor: this.cursor.position },
            'this instance now publishes the outbox',
          );
        }
        return true;
      }
      if (!announced) {
        logger.info(
          { event: 'relay.standby' },
          'another CA instance publishes the outbox; this one takes over if it stops',
        );
        announced = true;
      }
      await sleep(this.settings.leasePollMs, undefined, { signal: this.abort.signal }).catch(
        () => undefined,
      );
    }
    return false;
  }

  private async run(): Promise<void> {
    // Publishes while this instance holds the lease; when it loses it (its database session
    // ended), it stands by again and another instance carries on from the stored cursor.
    while (this.running) {
      try {
        if (!(await this.leadership())) return;
        if ((await this.publishWhileLeading()) !== 'lease_lost') return;
      } catch (error) {
        // The store did not answer (PostgreSQL restarting, a network cut): stand by and ask
        // again, on this instance or another, rather than stop relaying for good.
        if (!(error instanceof PostgresError)) throw error;
        this.options.logger.warn(
          { event: 'relay.store_unavailable', err: error },
          'the store did not answer; the relay stands by and tries again',
        );
        this.standBy();
        await sleep(this.settings.leasePollMs, undefined, { signal: this.abort.signal }).catch(
          () => undefined,
        );
      }
    }
  }

  private async publishWhileLeading(): Promise<'stopped' | 'lease_lost'> {
    const { logger } = this.options;
    const nc =
      this.nc ??
      (await connectNats({
        servers: this.options.servers ?? [],
        name: 'lantern-ca-relay',
        logger,
        signal: this.abort.signal,
        onStatus: (connected) => {
          this.connected = connected;
          if (connected) this.pipeline?.retryNow();
        },
      }));
    if (!nc) return 'stopped';
    if (!this.running) {
      await nc.close();
      return 'stopped';
    }
    this.nc = nc;
    this.connected = true;
    const jsm = await this.streamsReady(nc);
    if (!jsm) return 'stopped';
    let ensuring: Promise<void> | undefined;
    const pipeline = new PublishPipeline({
      js: jetstream(nc, { timeout: this.settings.publishTimeoutMs }),
      dlq: this.dlq,
      logger,
      window: this.settings.window,
      maxAttempts: this.settings.maxAttempts,
      retry: this.settings.retry,
      publishTimeoutMs: this.settings.publishTimeoutMs,
      isConnected: () => this.connected,
      ...(this.options.counters ? { onFailure: this.options.counters.failed } : {}),
      onNoStream: () => {
        ensuring ??= ensureIdentityStreams(jsm, this.replicas())
          .catch((error: unknown) =>
            logger.warn({ event: 'relay.streams', err: error }, 'could not re-create the streams'),
          )
          .finally(() => {
            ensuring = undefined;
          });
      },
    });
    this.pipeline = pipeline;
    logger.info(
      { event: 'relay.started', cursor: this.cursor.position, window: this.settings.window },
      'outbox relay publishing',
    );
    // Read a window's worth at a time and feed the pipeline as acks free room: one query per
    // window rather than one per ack.
    let buffered: RecordedEvent[] = [];
    let readAfter = this.cursor.position;
    while (this.running) {
      if (!this.lease.held()) {
        this.options.logger.warn(
          { event: 'relay.lease_lost', cursor: this.cursor.position },
          'this instance lost the relay lease (its database session ended); it stands by',
        );
        this.standBy();
        return 'lease_lost';
      }
      this.settle(pipeline);
      if (buffered.length === 0 && pipeline.room > 0) {
        buffered = await this.options.store.read({ after: readAfter, limit: this.settings.window });
        readAfter = buffered.at(-1)?.position ?? readAfter;
      }
      for (const event of buffered.splice(0, pipeline.room)) pipeline.add(event);
      await pipeline.changed(this.settings.pollMs);
    }
    this.settle(pipeline);
    this.failuresBefore += pipeline.failures;
    this.pipeline = undefined;
    return 'stopped';
  }

  /**
   * Stops publishing without moving the stored cursor further: another instance may hold the
   * lease and its cursor now. What was in flight is published again by whoever leads next,
   * inside JetStream's duplicate window.
   */
  private standBy(): void {
    const pipeline = this.pipeline;
    if (pipeline) {
      pipeline.close();
      this.failuresBefore += pipeline.failures;
      this.pipeline = undefined;
    }
    this.leading = false;
    this.cursor.forget();
  }

  private settle(pipeline: PublishPipeline): void {
    const settled = pipeline.takeSettled();
    const last = settled.at(-1);
    if (!last) return;
    let acked = 0;
    for (const { event, outcome } of settled) {
      if (outcome === 'parked') continue;
      acked += 1;
      this.options.counters?.published(event.eventType);
      if (outcome === 'duplicate') this.duplicates += 1;
    }
    this.published += acked;
    this.countRate(acked);
    this.cursor.advance(last.event.position);
  }

  private countRate(count: number): void {
    const second = Math.floor(this.options.clock.now() / 1000);
    const last = this.perSecond.at(-1);
    if (last?.second === second) last.count += count;
    else this.perSecond.push({ second, count });
    while ((this.perSecond[0]?.second ?? second) <= second - RATE_WINDOW_SECONDS)
      this.perSecond.shift();
  }

  private replicas(): { replicas?: number } {
    return this.options.replicas === undefined ? {} : { replicas: this.options.replicas };
  }

  /** JetStream may lag the connection (a restarting server); keep trying until it answers. */
  private async streamsReady(nc: NatsConnection): Promise<JetStreamManager | undefined> {
    let delay = this.settings.retry.initialMs;
    while (this.running) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: this.settings.publishTimeoutMs });
        await ensureIdentityStreams(jsm, this.replicas());
        return jsm;
      } catch (error) {
        this.options.logger.warn(
          { event: 'relay.streams', err: error },
          'JetStream not ready; retrying',
        );
        await sleep(delay, undefined, { signal: this.abort.signal }).catch(() => undefined);
        delay = Math.min(delay * 2, this.settings.retry.maxMs);
      }
    }
    return undefined;
  }
}
