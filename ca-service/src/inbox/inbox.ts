import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { nanos } from '@nats-io/transport-node';
import type { Span } from '@opentelemetry/api';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, propagation } from '@opentelemetry/api';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CaContext } from '../context/ca-context.js';
import { SPANS, tracer } from '../observability/tracing.js';
import { connectNats } from '../outbox/connect-nats.js';
import { headerGetter } from '../outbox/event-message.js';
import { DeadLetterQueue } from '../outbox/dead-letter-queue.js';
import { ensureIdentityStreams } from '../outbox/identity-streams.js';
import { INBOX_SUBJECTS, InboxProcessor } from './inbox-processor.js';

export interface InboxOptions {
  ctx: CaContext;
  servers: string | string[];
  /** Prefix of the durable consumer names (one consumer per subject). */
  durablePrefix?: string;
  /** Deliveries of a message whose processing keeps failing before it is parked in the DLQ. */
  maxDeliver?: number;
  ackWaitMs?: number;
  /** Delay before a failed message is redelivered. */
  retryDelayMs?: number;
  /** How often to look again for a stream that does not carry a consumed subject yet. */
  streamPollMs?: number;
}

export interface InboxStatus {
  running: boolean;
  connected: boolean;
  /** Subjects with a bound consumer. */
  consuming: string[];
  processed: number;
  duplicates: number;
  deadLettered: number;
  failures: number;
}

/**
 * Durable pull consumers for the events other services send the CA (docs/architecture.md §6 Inbox). The
 * streams that carry them belong to their producers; the inbox finds them by subject and waits
 * for them if they do not exist yet. A message is acked only after its effect committed;
 * anything that can never succeed (not JSON, schema-invalid, wrong subject, unknown tenant)
 * goes to the DLQ with the reason and is acked, and never reaches the store.
 */
export class Inbox {
  private readonly processor: InboxProcessor;
  private readonly dlq: DeadLetterQueue;
  private readonly durablePrefix: string;
  private readonly maxDeliver: number;
  private abort = new AbortController();
  private running = false;
  private connected = false;
  private nc: NatsConnection | undefined;
  private task: Promise<void> | undefined;
  private readonly stops: (() => void)[] = [];
  private readonly consuming = new Set<string>();
  private readonly counts = { processed: 0, duplicates: 0, deadLettered: 0, failures: 0 };

  constructor(private readonly options: InboxOptions) {
    this.processor = new InboxProcessor(options.ctx);
    this.dlq = new DeadLetterQueue(options.ctx.store.db, options.ctx.clock);
    this.durablePrefix = options.durablePrefix ?? 'lantern_ca';
    this.maxDeliver = options.maxDeliver ?? 10;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.task = this.run().catch((error: unknown) => {
      this.options.ctx.logger.error(
        { event: 'inbox.crashed', err: error },
        'inbox stopped on an unexpected error',
      );
    });
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    for (const stop of this.stops.splice(0)) stop();
    await this.task;
    await this.nc?.close();
    this.nc = undefined;
    this.connected = false;
    this.consuming.clear();
  }

  status(): InboxStatus {
    return {
      running: this.running,
      connected: this.connected,
      consuming: [...this.consuming],
      ...this.counts,
    };
  }

  private async run(): Promise<void> {
    const { logger } = this.options.ctx;
    const nc = await connectNats({
      servers: this.options.servers,
      name: 'lantern-ca-inbox',
      logger,
      signal: this.abort.signal,
      onStatus: (connected) => {
        this.connected = connected;
      },
    });
    if (!nc) return;
    if (!this.running) {
      await nc.close();
      return;
    }
    this.nc = nc;
    this.connected = true;
    const jsm = await this.untilDone('inbox.streams', async () => {
      const manager = await jetstreamManager(nc);
      await ensureIdentityStreams(manager);
      return manager;
    });
    if (!jsm) return;
    const js = jetstream(nc);
    await Promise.all(INBOX_SUBJECTS.map((subject) => this.consume(jsm, js, subject)));
  }

  private async consume(
    jsm: JetStreamManager,
    js: JetStreamClient,
    subject: string,
  ): Promise<void> {
    const durable = `${this.durablePrefix}_${subject.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const bound = await this.untilDone('inbox.bind', async () => {
      const stream = await jsm.streams.find(subject);
      await jsm.consumers.add(stream, {
        durable_name: durable,
        filter_subject: subject,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(this.options.ackWaitMs ?? 30_000),
        max_deliver: this.maxDeliver,
      });
      return js.consumers.get(stream, durable);
    });
    if (!bound) return;
    const messages = await bound.consume({ max_messages: 64 });
    this.stops.push(() => messages.stop());
    if (!this.running) messages.stop();
    this.consuming.add(subject);
    for await (const message of messages) await this.handle(js, message, subject);
  }

  /** In `identity.inbox.process`, child of the publisher's span its headers carry. */
  private async handle(js: JetStreamClient, message: JsMsg, topic: string): Promise<void> {
    const parent = propagation.extract(ROOT_CONTEXT, message.headers, headerGetter);
    await tracer.startActiveSpan(
      SPANS.inboxProcess,
      { kind: SpanKind.CONSUMER, attributes: { topic, subject: message.subject } },
      parent,
      async (span) => {
        try {
          await this.handleTraced(js, message, topic, span);
        } finally {
          span.end();
        }
      },
    );
  }

  private async handleTraced(
    js: JetStreamClient,
    message: JsMsg,
    topic: string,
    span: Span,
  ): Promise<void> {
    const { logger } = this.options.ctx;
    const decoded = await this.processor.decode(message.subject, message.data);
    if (!decoded.ok) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: decoded.reason });
      await this.park(js, message, decoded.reason);
      return;
    }
    span.setAttributes({
      event_id: decoded.envelope.eventId,
      tenant_id: decoded.envelope.tenantId,
    });
    try {
      const outcome = await this.processor.process(decoded.envelope);
      message.ack();
      if (outcome === 'duplicate') this.counts.duplicates += 1;
      else this.counts.processed += 1;
      span.setAttribute('outcome', outcome);
      this.options.ctx.metrics.inboxConsumed.inc({ topic });
      logger.info(
        {
          event: 'inbox.processed',
          eventId: decoded.envelope.eventId,
          tenantId: decoded.envelope.tenantId,
          subject: message.subject,
          outcome,
        },
        'consumed event applied',
      );
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).name });
      this.counts.failures += 1;
      const deliveries = message.info.deliveryCount;
      logger.warn(
        { event: 'inbox.failed', subject: message.subject, deliveries, err: error },
        'consumed event failed; it will be redelivered',
      );
      if (deliveries >= this.maxDeliver) {
        await this.park(js, message, `failed ${deliveries} times: ${(error as Error).message}`);
      } else {
        message.nak(this.options.retryDelayMs ?? 1_000 * 2 ** Math.min(deliveries, 6));
      }
    }
  }

  /** Acks only once the DLQ holds the message; if it cannot, the message comes back later. */
  private async park(js: JetStreamClient, message: JsMsg, reason: string): Promise<void> {
    try {
      await this.dlq.park(js, {
        source: 'inbox',
        subject: message.subject,
        letterId: `${message.info.stream}:${message.seq}`,
        reason,
        attempts: message.info.deliveryCount,
        data: message.data,
        ...(message.headers ? { headers: message.headers } : {}),
      });
      message.ack();
      this.counts.deadLettered += 1;
      this.options.ctx.logger.warn(
        { event: 'inbox.dead_lettered', subject: message.subject, reason },
        'consumed message parked in the DLQ',
      );
    } catch (error) {
      this.counts.failures += 1;
      this.options.ctx.logger.warn(
        { event: 'inbox.park_failed', subject: message.subject, err: error },
        'could not park a refused message; it will be redelivered',
      );
      message.nak(this.options.retryDelayMs ?? 5_000);
    }
  }

  /** Retries `step` until it succeeds or the inbox stops (streams of other services come late). */
  private async untilDone<T>(event: string, step: () => Promise<T>): Promise<T | undefined> {
    let warned = false;
    while (this.running) {
      try {
        return await step();
      } catch (error) {
        if (!warned) {
          this.options.ctx.logger.warn({ event, err: error }, 'inbox not ready; retrying');
          warned = true;
        }
        await sleep(this.options.streamPollMs ?? 2_000, undefined, {
          signal: this.abort.signal,
        }).catch(() => undefined);
      }
    }
    return undefined;
  }
}
