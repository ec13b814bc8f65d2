import type { Actor, Redactor } from '@lantern/shared';
import { LanternError } from '@lantern/shared';
import type { Attributes, Context, Span } from '@opentelemetry/api';
import {
  ROOT_CONTEXT,
  SpanStatusCode,
  TraceFlags,
  createContextKey,
  isSpanContextValid,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/**
 * Spans go through the OpenTelemetry API only. With no SDK registered (no `OTEL_*` variable,
 * see otel-sdk.ts) every span is a no-op. Names: `identity.<layer>.<operation>`, the spec's.
 */
export const tracer = trace.getTracer('lantern-ca', '0.1.0');

export const SPANS = {
  verifyPassword: 'identity.domain.verify_password',
  evaluateMfa: 'identity.domain.evaluate_mfa',
  loadUser: 'identity.db.load_user',
  signJwt: 'identity.kms.sign_jwt',
  dbAppend: 'identity.db.append',
  outboxPublish: 'identity.outbox.publish',
  inboxProcess: 'identity.inbox.process',
  /** Attributes `provider`, `tenant_id`, `result` (the spec's), set by sso/sso-signin.ts. */
  ssoCallback: 'identity.sso.callback',
  /** Kept whatever the head sampler said (spec §3.3), like error spans. */
  rotationReuse: 'identity.rotation_reuse_detected',
} as const;

/** The baggage keys the spec carries across all spans (§3.2), also copied onto each span. */
export const BAGGAGE_KEYS = ['tenant_id', 'request_id', 'actor_role'] as const;

/**
 * Set by the SDK while it runs: pseudonymises user ids for span attributes with the logs' own
 * keyed hash (a span's `user_id_hash` is the pseudonym its log lines show for the user) and
 * scrubs the exception texts spans record. Null when no SDK runs: spans are no-ops then.
 */
let spanRedactor: Redactor | null = null;

export function setSpanRedactor(redactor: Redactor | null): void {
  spanRedactor = redactor;
}

/** True while an SDK records spans: hot paths skip building span parents otherwise. */
export function tracingActive(): boolean {
  return spanRedactor !== null;
}

/** `hash:<keyed hash>` of a user id, or undefined when no SDK records spans. */
export function userIdHash(userId: string, tenantId: string): string | undefined {
  return spanRedactor ? `hash:${spanRedactor.pseudonym(userId, tenantId)}` : undefined;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * A refusal (a typed 4xx answer: wrong password, MFA required, reused token…) is an outcome,
 * not a fault: it is noted as `error.code` and leaves the status unset, so the tail rule that
 * keeps every error span is not flooded by guessing attacks. Anything else is an error, its
 * message and stack scrubbed like a log line's.
 */
function failed(span: Span, error: unknown): void {
  if (error instanceof LanternError && error.status < 500) {
    span.setAttribute('error.code', error.code);
  } else {
    const text = (value: string) => (spanRedactor ? spanRedactor.text(value) : value);
    span.recordException(
      error instanceof Error
        ? {
            name: error.name,
            message: text(error.message),
            ...(error.stack === undefined ? {} : { stack: text(error.stack) }),
          }
        : text(String(error)),
    );
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
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

/**
 * `inSpan`, with the time `fn` took (ms, 0.1 precision) as the attribute `durationAttribute`
 * (the spec names it per span: `duration_ms`, `db.duration_ms`…).
 */
export function timedSpan<T>(name: string, durationAttribute: string, fn: (span: Span) => T): T {
  return inSpan(name, (span) => {
    const started = performance.now();
    const record = () =>
      span.setAttribute(durationAttribute, Math.round((performance.now() - started) * 10) / 10);
    let result: T;
    try {
      result = fn(span);
    } catch (error) {
      record();
      throw error;
    }
    if (isPromiseLike(result)) return Promise.resolve(result).finally(record) as T;
    record();
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
  /** The request's own span (the echoed `traceparent`'s), for log lines without an SDK. */
  spanId?: string;
  requestId?: string;
  tenantId?: string;
  actor?: Actor;
  /** A user's role once they proved who they are, `admin` for an admin key, `device`… */
  actorRole?: string;
}

const scopes = new AsyncLocalStorage<RequestScope>();

export function runInRequestScope<T>(scope: RequestScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

export function currentRequestScope(): RequestScope | undefined {
  return scopes.getStore();
}

/**
 * Notes on the running request the tenant it is about and, once the caller proved who they
 * are, their role: spans started from then on carry them (and the request's own span at end).
 */
export function noteRequestActor(tenantId: string | undefined, actorRole?: string): void {
  const scope = scopes.getStore();
  if (!scope) return;
  if (tenantId !== undefined) scope.tenantId ??= tenantId;
  if (actorRole !== undefined) scope.actorRole = actorRole;
}

/**
 * `trace_id` and `span_id` for a log line (the CA logger's mixin): the active span's when an
 * SDK runs, else the ids the request echoed in its `traceparent`.
 */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  const active = trace.getActiveSpan()?.spanContext();
  if (active && isSpanContextValid(active)) {
    return { trace_id: active.traceId, span_id: active.spanId };
  }
  const scope = scopes.getStore();
  if (!scope?.spanId) return {};
  return { trace_id: scope.correlationId, span_id: scope.spanId };
}

/**
 * Marks a made-up remote parent (see `contextForCorrelation`): its flags say nothing, so the
 * sampler decides on the trace id alone, as it did for the request that began the trace.
 */
export const CORRELATION_PARENT = createContextKey('lantern.correlation_parent');

/**
 * The parent of a span about events of `correlationId` outside the request that appended them
 * (the relay's publish): the store keeps the trace id (the correlation id) but not the
 * request's span, so the span joins the trace under a remote parent of that trace id.
 */
export function contextForCorrelation(correlationId: string): Context {
  if (!/^[0-9a-f]{32}$/.test(correlationId) || /^0+$/.test(correlationId)) return ROOT_CONTEXT;
  const parent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: correlationId,
    spanId: newSpanId(),
    traceFlags: TraceFlags.NONE,
    isRemote: true,
  });
  return parent.setValue(CORRELATION_PARENT, true);
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
