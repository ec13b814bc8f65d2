import type {
  Attributes,
  Context,
  ContextManager,
  Span,
  SpanContext,
  SpanKind,
  SpanOptions,
  SpanStatus,
  Tracer,
} from '@opentelemetry/api';
import { ROOT_CONTEXT, TraceFlags, context, trace } from '@opentelemetry/api';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';

const PASSWORD = 'correct horse battery';
const INCOMING_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const INCOMING_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${INCOMING_TRACE}-${INCOMING_SPAN}-01`;

let ca: TestCa;
let tenantId: string;
beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  await createUser(ca, tenantId, 'amina', PASSWORD);
});
afterEach(async () => ca.close());

function login(headers: Record<string, string> = {}) {
  return ca.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: 'hillside', username: 'amina', password: PASSWORD },
    headers,
  });
}

function parseTraceparent(value: unknown): { traceId: string; spanId: string; flags: string } {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(value));
  if (!match) throw new Error(`not a traceparent: ${String(value)}`);
  return { traceId: match[1] ?? '', spanId: match[2] ?? '', flags: match[3] ?? '' };
}

function loginEvents() {
  return ca.ctx.store.read({ tenantId, eventType: 'identity.user.logged_in' });
}

function accessRecord(route: string): Record<string, unknown> {
  const found = ca.logLines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter(
      (record) =>
        record['message'] === 'http.request' && String(record['route']).endsWith(` ${route}`),
    );
  expect(found).toHaveLength(1);
  return found[0] ?? {};
}

describe('trace context without an OpenTelemetry SDK (spans are no-ops)', () => {
  it('continues an incoming trace: its id is the correlation id, the log trace id, the echo', async () => {
    const response = await login({ traceparent: TRACEPARENT });
    expect(response.statusCode).toBe(200);
    const echoed = parseTraceparent(response.headers['traceparent']);
    expect(echoed.traceId).toBe(INCOMING_TRACE);
    expect(echoed.spanId).not.toBe(INCOMING_SPAN);
    expect(echoed.flags).toBe('01');
    expect(loginEvents().map((event) => event.correlationId)).toEqual([INCOMING_TRACE]);
    expect(accessRecord('/v1/auth/login')['trace_id']).toBe(INCOMING_TRACE);
  });

  it('starts a trace when none (or an invalid one) comes in, and uses it the same way', async () => {
    const cases: Record<string, string>[] = [
      {},
      { traceparent: `00-${'0'.repeat(32)}-${INCOMING_SPAN}-01` },
      { traceparent: 'garbage' },
    ];
    for (const headers of cases) {
      const response = await login(headers);
      const echoed = parseTraceparent(response.headers['traceparent']);
      expect(echoed.traceId).not.toBe('0'.repeat(32));
      expect(loginEvents().at(-1)?.correlationId).toBe(echoed.traceId);
    }
    const errorResponse = await ca.app.inject({ method: 'GET', url: '/no/such/route' });
    expect(parseTraceparent(errorResponse.headers['traceparent']).traceId).toBe(
      accessRecord('unmatched')['trace_id'],
    );
  });
});

// --- an in-memory SDK stand-in: an AsyncLocalStorage context manager and a recording tracer ---

interface Recorded {
  name: string;
  kind: SpanKind | undefined;
  context: SpanContext;
  parentSpanId: string | undefined;
  attributes: Attributes;
  status: SpanStatus | undefined;
  ended: boolean;
}

class AlsContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.storage.disable();
    return this;
  }
}

const spans: Recorded[] = [];

function recordingSpan(name: string, options: SpanOptions, parent: Context): Span {
  const parentContext = trace.getSpanContext(parent);
  const record: Recorded = {
    name,
    kind: options.kind,
    context: {
      traceId: parentContext?.traceId ?? randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      traceFlags: TraceFlags.SAMPLED,
    },
    parentSpanId: parentContext?.spanId,
    attributes: { ...options.attributes },
    status: undefined,
    ended: false,
  };
  spans.push(record);
  const span: Span = {
    spanContext: () => record.context,
    setAttribute: (key, value) => {
      record.attributes[key] = value;
      return span;
    },
    setAttributes: (attributes) => {
      Object.assign(record.attributes, attributes);
      return span;
    },
    addEvent: () => span,
    addLink: () => span,
    addLinks: () => span,
    setStatus: (status) => {
      record.status = status;
      return span;
    },
    updateName: (next) => {
      record.name = next;
      return span;
    },
    end: () => {
      record.ended = true;
    },
    isRecording: () => !record.ended,
    recordException: () => undefined,
  };
  return span;
}

const recordingTracer = {
  startSpan: (name: string, options: SpanOptions = {}, ctx?: Context) =>
    recordingSpan(name, options, ctx ?? context.active()),
  startActiveSpan: (name: string, ...rest: unknown[]) => {
    const fn = rest.pop() as (span: Span) => unknown;
    const [options = {}, ctx = context.active()] = rest as [SpanOptions?, Context?];
    const span = recordingSpan(name, options, ctx);
    return context.with(trace.setSpan(ctx, span), () => fn(span));
  },
} as unknown as Tracer;

describe('trace context with an OpenTelemetry SDK registered', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AlsContextManager());
    trace.setGlobalTracerProvider({ getTracer: () => recordingTracer });
  });
  afterAll(() => {
    trace.disable();
    context.disable();
  });
  beforeEach(() => {
    spans.length = 0;
  });

  it('records identity.http.login with its domain and db spans as children of the caller', async () => {
    const response = await login({ traceparent: TRACEPARENT });
    expect(response.statusCode).toBe(200);
    const http = spans.find((span) => span.name === 'identity.http.login');
    expect(http).toBeDefined();
    if (!http) return;
    expect(http.context.traceId).toBe(INCOMING_TRACE);
    expect(http.parentSpanId).toBe(INCOMING_SPAN);
    expect(http.ended).toBe(true);
    expect(http.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/auth/login',
      'http.response.status_code': 200,
    });
    // The echo names the server span, so a caller can link to it.
    expect(response.headers['traceparent']).toBe(`00-${INCOMING_TRACE}-${http.context.spanId}-01`);

    const verify = spans.find((span) => span.name === 'identity.domain.verify_password');
    const append = spans.find((span) => span.name === 'identity.db.append');
    for (const child of [verify, append]) {
      expect(child?.context.traceId).toBe(INCOMING_TRACE);
      expect(child?.parentSpanId).toBe(http.context.spanId);
      expect(child?.ended).toBe(true);
    }
    expect(append?.attributes['lantern.event_count']).toBe(2);
    expect(loginEvents().map((event) => event.correlationId)).toEqual([INCOMING_TRACE]);
    // A line written inside the handler names the span active there, the access line the
    // server span; neither the caller's.
    const success = ca.logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((record) => record['message'] === 'login.success');
    expect(success?.['trace_id']).toBe(INCOMING_TRACE);
    expect(spans.map((span) => span.context.spanId)).toContain(success?.['span_id']);
    expect(accessRecord('/v1/auth/login')['span_id']).toBe(http.context.spanId);
  });

  it('starts a root span when no trace comes in; its trace id is the correlation id', async () => {
    await login();
    const http = spans.find((span) => span.name === 'identity.http.login');
    expect(http?.parentSpanId).toBeUndefined();
    expect(loginEvents().map((event) => event.correlationId)).toEqual([http?.context.traceId]);
    expect(accessRecord('/v1/auth/login')).toMatchObject({
      trace_id: http?.context.traceId,
      span_id: http?.context.spanId,
    });
  });

  it('names other routes from their template and marks a failed password check', async () => {
    await ca.app.inject({ method: 'GET', url: '/v1/admin/devices/dev_x' });
    expect(spans.map((span) => span.name)).toContain('identity.http.get.admin.devices');
    spans.length = 0;
    const refused = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: 'hillside', username: 'amina', password: 'wrong wrong wrong' },
    });
    expect(refused.statusCode).toBe(401);
    const http = spans.find((span) => span.name === 'identity.http.login');
    expect(http?.attributes['http.response.status_code']).toBe(401);
    expect(spans.find((span) => span.name === 'identity.domain.verify_password')?.ended).toBe(true);
  });
});
