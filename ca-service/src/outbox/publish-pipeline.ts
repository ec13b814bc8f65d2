import type { Logger } from '@lantern/shared';
import type { JetStreamClient } from '@nats-io/jetstream';
import { JetStreamApiError } from '@nats-io/jetstream';
import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  TimeoutError,
} from '@nats-io/transport-node';
import type { Span } from '@opentelemetry/api';
import {
  INVALID_SPAN_CONTEXT,
  SpanKind,
  SpanStatusCode,
  propagation,
  trace,
} from '@opentelemetry/api';
import type { RecordedEvent } from '../store/event-store.js';
import { SPANS, contextForCorrelation, tracer, tracingActive } from '../observability/tracing.js';
import type { DeadLetterQueue } from './dead-letter-queue.js';
import type { EventMessage } from './event-message.js';
import { eventMessage, headerSetter } from './event-message.js';

export type PublishOutcome = 'published' | 'duplicate' | 'parked';

export interface PublishedEvent {
  event: RecordedEvent;
  outcome: PublishOutcome;
}

export interface PublishPipelineOptions {
  js: JetStreamClient;
  dlq: DeadLetterQueue;
  logger: Logger;
  /** Publishes awaiting their ack at once. */
  window: number;
  /** Refusals of one event (the broker answered, and said no) before it is parked in the DLQ. */
  maxAttempts: number;
  retry: { initialMs: number; maxMs: number };
  publishTimeoutMs: number;
  /** False while the client is reconnecting: failures then say nothing about the event. */
  isConnected(): boolean;
  /** Nobody answered on the subject while connected: the stream may have been deleted. */
  onNoStream(): void;
  /** Every failed attempt, with the event's type and how it failed. */
  onFailure?(eventType: string, failure: Failure): void;
}

interface Slot {
  event: RecordedEvent;
  message: EventMessage;
  /** Refusals counted towards `maxAttempts`. */
  refusals: number;
  /** Every try, counted for the backoff. */
  tries: number;
  lastError: string;
  outcome?: PublishOutcome;
  timer?: NodeJS.Timeout;
  /** `identity.outbox.publish`, from `add` to the broker's ack or the DLQ. */
  span: Span;
}

type Failure = 'transient' | 'no_stream' | 'refused';

function classify(error: unknown): Failure {
  if (
    error instanceof TimeoutError ||
    error instanceof ClosedConnectionError ||
    error instanceof ConnectionError ||
    error instanceof DrainingConnectionError
  )
    return 'transient';
  // The client reports no responders on a publish as "JetStream not enabled".
  if (error instanceof NoRespondersError || (error as Error).name === 'JetStreamNotEnabled')
    return 'no_stream';
  if (error instanceof JetStreamApiError && error.status === 503) return 'transient';
  return 'refused';
}

/** Without an SDK: no parent to build, no CSPRNG call per event (the relay's hot path). */
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * `identity.outbox.publish` in the trace of the request that appended the event; the message
 * carries it (and the event's tenant as baggage) in its headers, replacing the correlation
 * id's `traceparent` that `eventMessage` wrote.
 */
function publishSpan(event: RecordedEvent, message: EventMessage): Span {
  const parent = propagation.setBaggage(
    contextForCorrelation(event.correlationId),
    propagation.createBaggage({ tenant_id: { value: event.tenantId } }),
  );
  const span = tracer.startSpan(
    SPANS.outboxPublish,
    {
      kind: SpanKind.PRODUCER,
      attributes: { topic: event.eventType, event_id: event.eventId, tenant_id: event.tenantId },
    },
    parent,
  );
  propagation.inject(trace.setSpan(parent, span), message.headers, headerSetter);
  return span;
}

/**
 * Publishes events with up to `window` acks in flight and hands them back in the order they were
 * added, once each is settled (acked, or parked in the DLQ). Failures retry with exponential
 * backoff and jitter; only refusals seen while connected count towards parking, so a broker
 * outage never sends healthy events to the DLQ.
 */
export class PublishPipeline {
  private readonly slots: Slot[] = [];
  private wake: (() => void) | undefined;
  /** Set by a change nobody was waiting for, so the next `changed()` returns at once. */
  private pending = false;
  private closed = false;
  failures = 0;

  constructor(private readonly options: PublishPipelineOptions) {}

  get size(): number {
    return this.slots.length;
  }

  get room(): number {
    return Math.max(0, this.options.window - this.slots.length);
  }

  add(event: RecordedEvent): void {
    const message = eventMessage(event);
    const slot: Slot = {
      event,
      message,
      refusals: 0,
      tries: 0,
      lastError: '',
      span: tracingActive() ? publishSpan(event, message) : NO_SPAN,
    };
    this.slots.push(slot);
    this.attempt(slot);
  }

  /** Removes and returns the settled events at the front, in the order they were added. */
  takeSettled(): PublishedEvent[] {
    const settled: PublishedEvent[] = [];
    while (this.slots[0]?.outcome !== undefined) {
      const slot = this.slots.shift() as Slot;
      settled.push({ event: slot.event, outcome: slot.outcome as PublishOutcome });
    }
    return settled;
  }

  /** Resolves at the next settlement (at once if one came since the last call), or after `ms`. */
  async changed(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
    this.pending = false;
  }

  /** After a reconnect: waiting retries go now rather than at the end of their backoff. */
  retryNow(): void {
    for (const slot of this.slots) {
      if (slot.timer === undefined) continue;
      clearTimeout(slot.timer);
      slot.timer = undefined;
      this.attempt(slot);
    }
  }

  /** Stops retrying; publishes in flight are abandoned (their events stay after the cursor). */
  close(): void {
    this.closed = true;
    for (const slot of this.slots) {
      clearTimeout(slot.timer);
      if (slot.outcome === undefined) {
        slot.span.setAttribute('outcome', 'abandoned');
        slot.span.end();
      }
    }
    this.notify();
  }

  private attempt(slot: Slot): void {
    if (this.closed) return;
    slot.tries += 1;
    const { js, dlq, maxAttempts, publishTimeoutMs } = this.options;
    const { message } = slot;
    const work: Promise<PublishOutcome> =
      slot.refusals >= maxAttempts
        ? dlq
            .park(js, {
              source: 'relay',
              subject: message.subject,
              letterId: slot.event.eventId,
              reason: slot.lastError,
              attempts: slot.refusals,
              data: message.data,
              eventId: slot.event.eventId,
              position: slot.event.position,
              headers: message.headers,
            })
            .then(() => 'parked')
        : js
            .publish(message.subject, message.data, {
              msgID: message.msgId,
              headers: message.headers,
              timeout: publishTimeoutMs,
            })
            .then((ack) => (ack.duplicate ? 'duplicate' : 'published'));
    work.then(
      (outcome) => {
        if (outcome === 'parked') {
          this.options.logger.error(
            {
              event: 'relay.parked',
              eventId: slot.event.eventId,
              position: slot.event.position,
              reason: slot.lastError,
            },
            'event parked in the DLQ after repeated refusals',
          );
        }
        slot.outcome = outcome;
        slot.span.setAttribute('outcome', outcome);
        if (outcome === 'parked') {
          slot.span.setStatus({ code: SpanStatusCode.ERROR, message: slot.lastError });
        }
        slot.span.end();
        this.notify();
      },
      (error: unknown) => this.failed(slot, error),
    );
  }

  private failed(slot: Slot, error: unknown): void {
    if (this.closed) return;
    this.failures += 1;
    const failure = this.options.isConnected() ? classify(error) : 'transient';
    this.options.onFailure?.(slot.event.eventType, failure);
    // Only the stream refusing this event makes it poison. "No responders" is what a client sees
    // while a clustered stream elects a new leader, or before the stream is re-created: neither
    // is the event's fault, so it is retried for as long as it takes.
    if (failure === 'refused' && slot.refusals < this.options.maxAttempts) {
      slot.refusals += 1;
      slot.lastError = `${(error as Error).name}: ${(error as Error).message}`;
    }
    if (failure === 'no_stream') this.options.onNoStream();
    const { initialMs, maxMs } = this.options.retry;
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(slot.tries - 1, 20));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    slot.span.addEvent('publish.retry', { failure, refusals: slot.refusals });
    // A broker outage or a leader election fails every event in flight: one line each at debug;
    // a refusal is news.
    this.options.logger[failure === 'refused' ? 'warn' : 'debug'](
      {
        event: 'relay.retry',
        eventId: slot.event.eventId,
        failure,
        refusals: slot.refusals,
        delayMs: Math.round(delay),
      },
      (error as Error).message,
    );
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.attempt(slot);
    }, delay);
  }

  /** Acks parsed from one socket read settle in one tick; the waiter runs once after them all. */
  private notify(): void {
    const wake = this.wake;
    if (!wake) {
      this.pending = true;
      return;
    }
    this.wake = undefined;
    setImmediate(wake);
  }
}
