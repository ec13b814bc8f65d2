import type { Context, Span } from '@opentelemetry/api';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  isSpanContextValid,
  propagation,
  trace,
} from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LogController } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { LogFields } from '@lantern/shared';
import { UnauthorizedError, withLogContext } from '@lantern/shared';
import type { CaMetrics } from './metrics.js';
import { UNMATCHED_ROUTE } from './metrics.js';
import type { RequestScope, TraceParent } from './tracing.js';
import {
  BAGGAGE_KEYS,
  formatTraceparent,
  newSpanId,
  newTraceId,
  parseTraceparent,
  runInRequestScope,
  tracer,
} from './tracing.js';

/**
 * Fastify's own per-request lines ("incoming request", "request completed") are replaced by the
 * one access-log record below; its other internal lines stay. Request-scoped records carry
 * `request_id` (the log schema's name) rather than Fastify's `reqId`.
 */
export class AccessLogController extends LogController {
  constructor() {
    super({ requestIdLogLabel: 'request_id' });
  }
  override incomingRequest(): void {}
  override requestCompleted(): void {}
}

/** Span names of the routes a device or user calls; other routes get a name from their template. */
const SPAN_NAMES: Readonly<Record<string, string>> = {
  'POST /v1/auth/login': 'login',
  'POST /v1/auth/refresh': 'refresh',
  'POST /v1/auth/logout': 'logout',
  'POST /v1/devices/enroll': 'enroll',
  'POST /v1/devices/renew': 'renew',
  'POST /v1/sync': 'sync',
};

export function httpSpanName(method: string, route: string): string {
  const known = SPAN_NAMES[`${method} ${route}`];
  if (known) return `identity.http.${known}`;
  const path = route
    .split('/')
    .filter((segment) => segment !== '' && segment !== 'v1' && !segment.startsWith(':'))
    .map((segment) => segment.replace(/[^A-Za-z0-9_-]/g, '_'))
    .join('.');
  return `identity.http.${method.toLowerCase()}.${path || 'root'}`;
}

interface RequestTrace {
  span: Span;
  traceparent: TraceParent;
  scope: RequestScope;
  route: string;
  /** The caller's span: without an SDK, a no-op span only echoes it. */
  parentSpanId?: string;
}

const traces = new WeakMap<FastifyRequest, RequestTrace>();
/** The stable `code` of an error answer, read as it is sent (for `identity_http_errors_total`). */
const errorCodes = new WeakMap<FastifyRequest, string>();
const ERROR_CODE = /"code"\s*:\s*"([a-z][a-z0-9_]{0,63})"/;

/** Sign-in routes whose whole duration is `identity_login_duration_seconds`, by method. */
const LOGIN_ROUTES: Readonly<Record<string, 'password' | 'passkey'>> = {
  '/v1/auth/login': 'password',
  '/v1/auth/webauthn/verify': 'passkey',
};

export interface MetricsEndpointOptions {
  /**
   * Serve `GET /metrics` on this app (default true). False when a separate listener serves it
   * (`--metrics-listen`), so the public port does not expose it.
   */
  expose?: boolean;
  /** When set, `/metrics` answers only `Authorization: Bearer <token>`. */
  bearerToken?: string;
}

/** Constant-time check of a scraper's bearer token; hashing first evens out the lengths. */
export function metricsTokenMatches(header: unknown, token: string): boolean {
  const presented =
    typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(presented), digest(token)) && presented.length > 0;
}

/**
 * The spec's baggage is the CA's own word: `request_id` is this request's id, and `tenant_id`
 * and `actor_role` are learnt from what the caller proves (see `noteRequestActor`), so the
 * values a caller sends for them are dropped (devices reach the CA with no gateway between).
 */
function withOwnBaggage(parent: Context, requestId: string): Context {
  const incoming = propagation.getBaggage(parent) ?? propagation.createBaggage();
  const own = incoming.removeEntries(...BAGGAGE_KEYS).setEntry('request_id', { value: requestId });
  return propagation.setBaggage(parent, own);
}

function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? UNMATCHED_ROUTE;
}

/**
 * The log schema's request fields. The ids are the active span's (a child span inside the
 * handler) when an OpenTelemetry SDK runs, else the request's own `traceparent` (incoming or
 * made up), so logs and the echoed header agree either way; `server` asks for the request's
 * server span whatever is active. Tenant and actor are read late: the request learns them
 * while it runs. The actor id is pseudonymised by the logger (tenant-salted keyed hash).
 */
function requestLogFields(request: FastifyRequest, state: RequestTrace, server = false): LogFields {
  const active = server ? undefined : trace.getActiveSpan()?.spanContext();
  const own = active && isSpanContextValid(active) && active.spanId !== state.parentSpanId;
  const ids = own ? active : state.traceparent;
  const { scope } = state;
  return {
    trace_id: ids.traceId,
    span_id: ids.spanId,
    request_id: request.id,
    route: `${request.method} ${state.route}`,
    ...(scope.tenantId === undefined ? {} : { tenant_id: scope.tenantId }),
    ...(scope.actor === undefined
      ? {}
      : { actorId: scope.actor.id, actor_role: scope.actorRole ?? scope.actor.type }),
  };
}

/**
 * docs/architecture.md §7 on the HTTP face, installed on the root instance so every route (and the 404
 * handler) goes through it:
 * - W3C trace context: a valid incoming `traceparent` is the parent of the request's server
 *   span; without one a trace id is made up and written into the request's headers, so that
 *   `correlationIdOf` (events), the access log and the echoed `traceparent` all agree.
 * - one access-log record per request, at completion;
 * - `identity_http_requests_total` and `identity_http_request_duration_seconds` by route
 *   template, and `GET /metrics`.
 */
export function installObservability(
  app: FastifyInstance,
  ctx: { metrics: CaMetrics },
  endpoint: MetricsEndpointOptions = {},
): void {
  const { metrics } = ctx;

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method !== 'HEAD' && !route.url.includes('*')) metrics.routeRegistered(route.url, method);
    }
  });

  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode >= 400 && typeof payload === 'string') {
      const code = ERROR_CODE.exec(payload.slice(0, 200))?.[1];
      if (code) errorCodes.set(request, code);
    }
    return payload;
  });

  app.addHook('onRequest', (request, reply, done) => {
    const incoming = parseTraceparent(request.headers['traceparent']);
    const route = routeOf(request);
    // With an SDK the W3C propagators read `traceparent`, `tracestate` and `baggage`; without
    // one extraction is a no-op and the header is read here, for the correlation id.
    const extracted = propagation.extract(ROOT_CONTEXT, request.headers);
    const remote =
      trace.getSpanContext(extracted) ??
      (incoming && {
        traceId: incoming.traceId,
        spanId: incoming.spanId,
        traceFlags: parseInt(incoming.flags, 16),
        isRemote: true,
      });
    const parent = withOwnBaggage(
      remote ? trace.setSpanContext(extracted, remote) : extracted,
      request.id,
    );
    const span = tracer.startSpan(
      httpSpanName(request.method, route),
      {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': request.method, 'http.route': route },
      },
      parent,
    );
    // An SDK's span has ids of its own (sampled or not); a no-op span only echoes its parent.
    const own = span.spanContext();
    const sdk = isSpanContextValid(own) && own.spanId !== remote?.spanId;
    const traceparent: TraceParent = {
      traceId: sdk ? own.traceId : (remote?.traceId ?? newTraceId()),
      spanId: sdk ? own.spanId : newSpanId(),
      flags: sdk
        ? own.traceFlags.toString(16).padStart(2, '0')
        : (remote?.traceFlags ?? 0).toString(16).padStart(2, '0'),
    };
    // Also when only the SDK's propagator accepted it (a later version): `correlationIdOf`
    // reads version 00.
    if (!incoming) request.raw.headers['traceparent'] = formatTraceparent(traceparent);
    const scope: RequestScope = {
      correlationId: traceparent.traceId,
      spanId: traceparent.spanId,
      requestId: request.id,
    };
    const state: RequestTrace = {
      span,
      traceparent,
      scope,
      route,
      ...(remote ? { parentSpanId: remote.spanId } : {}),
    };
    traces.set(request, state);
    reply.header('traceparent', formatTraceparent(traceparent));
    // Fastify's own request lines get the ids even where the request context does not reach.
    const log = request.log.child({
      trace_id: traceparent.traceId,
      span_id: traceparent.spanId,
      route: `${request.method} ${route}`,
    });
    request.log = log;
    reply.log = log;
    context.with(trace.setSpan(parent, span), () =>
      withLogContext(
        () => requestLogFields(request, state),
        () => runInRequestScope(scope, done),
      ),
    );
  });

  app.addHook('onResponse', async (request, reply) => {
    const state = traces.get(request);
    const scope = state?.scope;
    const route = state?.route ?? routeOf(request);
    const status = reply.statusCode;
    const seconds = reply.elapsedTime / 1000;
    metrics.httpRequest(route, request.method, status, seconds, errorCodes.get(request));
    const loginMethod = request.method === 'POST' ? LOGIN_ROUTES[route] : undefined;
    if (loginMethod) metrics.loginDuration.observe({ method: loginMethod }, seconds);
    if (route === '/v1/sync' && request.method === 'POST') {
      const bytes = request.rawBody?.length ?? Number(request.headers['content-length'] ?? 0);
      if (Number.isFinite(bytes) && bytes > 0) metrics.syncRequestBytes.inc(bytes);
    }
    request.log[status >= 500 ? 'warn' : 'info'](
      {
        event: 'http.request',
        ...(state ? requestLogFields(request, state, true) : {}),
        status_code: status,
        duration_ms: Math.round(reply.elapsedTime * 10) / 10,
        clientIp: request.ip,
      },
      'request completed',
    );
    if (state) {
      state.span.setAttribute('http.response.status_code', status);
      // Learnt while the request ran (the span's start had only the request id).
      if (scope?.tenantId !== undefined) state.span.setAttribute('tenant_id', scope.tenantId);
      if (scope?.actorRole !== undefined) state.span.setAttribute('actor_role', scope.actorRole);
      if (status >= 500) state.span.setStatus({ code: SpanStatusCode.ERROR });
      state.span.end();
      traces.delete(request);
    }
  });

  if (endpoint.expose ?? true) metricsRoute(app, ctx, endpoint.bearerToken);
}

/** `GET /metrics`, behind a bearer token when one is configured. */
export function metricsRoute(
  app: FastifyInstance,
  ctx: { metrics: CaMetrics },
  bearerToken?: string,
): void {
  const { metrics } = ctx;
  app.get('/metrics', { schema: { hide: true } }, async (request, reply: FastifyReply) => {
    if (
      bearerToken !== undefined &&
      !metricsTokenMatches(request.headers.authorization, bearerToken)
    ) {
      reply.header('www-authenticate', 'Bearer realm="metrics"');
      throw new UnauthorizedError('send `Authorization: Bearer <metrics token>` to read /metrics');
    }
    return reply
      .header('content-type', metrics.contentType)
      .header('cache-control', 'no-store')
      .send(await metrics.text());
  });
}
