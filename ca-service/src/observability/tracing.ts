import type { Actor } from '@lantern/shared';
import type { Attributes, Span } from '@opentelemetry/api';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/**
 * Spans go through the OpenTelemetry API only. With no SDK registered (the default) every
 * span is a no-op; an operator who registers an SDK (`--import` of a setup file) gets them
 * exported without a code change. Names: `identity.<layer>.<operation>`.
 */
export const tracer = trace.getTracer('lantern-ca', '0.1.0');

export const SPANS = {
  verifyPassword: 'identity.domain.verify_password',
  dbAppend: 'identity.db.append',
  outboxPublish: 'identity.outbox.publish',
} as const;

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function failed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/** Runs `fn` (sync or async) as the active span `name`; the span ends when `fn` settles. */
export function inSpan<T>(name: string, fn: (span: Span) => T, attributes?: Attributes): T {
  return tracer.startActiveSpan(name, attributes ? { attributes } : {}, (span) => {
    let result: T;
    try {
      result = fn(span);
    } catch (error) {
      failed(span, error);
      throw error;
    }
    if (isPromiseLike(result)) {
      return Promise.resolve(result).then(
        (value) => {
          span.end();
          return value;
        },
        (error: unknown) => {
          failed(span, error);
          throw error;
        },
      ) as T;
    }
    span.end();
    return result;
  });
}

// --- W3C trace context ------------------------------------------------------------------------

export interface TraceParent {
  traceId: string;
  spanId: string;
  /** Two hex digits; `01` = sampled. */
  flags: string;
}

/**
 * Version 00 only, lowercase, no all-zero ids: the same shape `correlationIdOf` reads, so the
 * trace id a request carries is the correlation id of the events it appends.
 */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function parseTraceparent(header: unknown): TraceParent | undefined {
  if (typeof header !== 'string') return undefined;
  const match = TRACEPARENT.exec(header.trim());
  if (!match) return undefined;
  const [, traceId = '', spanId = '', flags = ''] = match;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, flags };
}

export function formatTraceparent(parent: TraceParent): string {
  return `00-${parent.traceId}-${parent.spanId}-${parent.flags}`;
}

export const newTraceId = (): string => randomBytes(16).toString('hex');
export const newSpanId = (): string => randomBytes(8).toString('hex');

/**
 * A `traceparent` for a message published about events of `correlationId` (NATS headers): the
 * correlation id is a trace id when the request that caused the events carried or got one.
 */
export function traceparentForCorrelation(correlationId: string): string | undefined {
  return /^[0-9a-f]{32}$/.test(correlationId) && !/^0+$/.test(correlationId)
    ? formatTraceparent({ traceId: correlationId, spanId: newSpanId(), flags: '01' })
    : undefined;
}

// --- request scope ----------------------------------------------------------------------------

/** What the access log learns about a request while it runs: whom it acted for and as. */
export interface RequestScope {
  correlationId: string;
  tenantId?: string;
  actor?: Actor;
  /** A signed-in user's role (`learner`, …); the access log falls back to the actor's type. */
  actorRole?: string;
}

const scopes = new AsyncLocalStorage<RequestScope>();

export function runInRequestScope<T>(scope: RequestScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

export function currentRequestScope(): RequestScope | undefined {
  return scopes.getStore();
}

interface AppendedEvent {
  tenantId: string;
  actor: Actor;
  correlationId: string;
}

/**
 * Wraps an event-store append in the `identity.db.append` span and notes, for the access log of
 * the request it runs in, the tenant and actor of the first event the request itself caused.
 */
export function tracedAppend<T>(events: readonly AppendedEvent[], fn: () => T): T {
  const scope = scopes.getStore();
  if (scope) {
    const own = events.find((event) => event.correlationId === scope.correlationId) ?? events[0];
    if (own && scope.tenantId === undefined) scope.tenantId = own.tenantId;
    if (own && scope.actor === undefined && own.correlationId === scope.correlationId) {
      scope.actor = own.actor;
    }
  }
  return inSpan(SPANS.dbAppend, fn, { 'lantern.event_count': events.length });
}
