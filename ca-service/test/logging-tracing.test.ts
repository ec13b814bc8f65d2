import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';
import { tracerProvider } from '../src/observability/otel-sdk.js';

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
    expect((await loginEvents()).map((event) => event.correlationId)).toEqual([INCOMING_TRACE]);
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
      expect((await loginEvents()).at(-1)?.correlationId).toBe(echoed.traceId);
    }
    const errorResponse = await ca.app.inject({ method: 'GET', url: '/no/such/route' });
    expect(parseTraceparent(errorResponse.headers['traceparent']).traceId).toBe(
      accessRecord('unmatched')['trace_id'],
    );
  });
});

// --- the real SDK (as `serve` registers it), exporting to memory, every trace sampled ---------

const exporter = new InMemorySpanExporter();
const provider = tracerProvider({ ratio: 1, exporter });

async function finished(): Promise<ReadableSpan[]> {
  await provider.forceFlush();
  return exporter.getFinishedSpans();
}

describe('trace context with an OpenTelemetry SDK registered', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(
      new CompositePropagator({
        propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
      }),
    );
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
  });
  beforeEach(async () => {
    // The set-up's spans (tenant, user) may still wait in the batch processor.
    await provider.forceFlush();
    exporter.reset();
  });

  it('records identity.http.login with its domain and db spans as children of the caller', async () => {
    const response = await login({ traceparent: TRACEPARENT });
    expect(response.statusCode).toBe(200);
    const spans = await finished();
    const http = spans.find((span) => span.name === 'identity.http.login');
    expect(http).toBeDefined();
    if (!http) return;
    expect(http.spanContext().traceId).toBe(INCOMING_TRACE);
    expect(http.parentSpanContext?.spanId).toBe(INCOMING_SPAN);
    expect(http.ended).toBe(true);
    expect(http.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/auth/login',
      'http.response.status_code': 200,
    });
    // The echo names the server span, so a caller can link to it.
    expect(response.headers['traceparent']).toBe(
      `00-${INCOMING_TRACE}-${http.spanContext().spanId}-01`,
    );

    const verify = spans.find((span) => span.name === 'identity.domain.verify_password');
    const append = spans.find((span) => span.name === 'identity.db.append');
    for (const child of [verify, append]) {
      expect(child?.spanContext().traceId).toBe(INCOMING_TRACE);
      expect(child?.parentSpanContext?.spanId).toBe(http.spanContext().spanId);
      expect(child?.ended).toBe(true);
    }
    expect(append?.attributes['lantern.event_count']).toBe(2);
    expect((await loginEvents()).map((event) => event.correlationId)).toEqual([INCOMING_TRACE]);
    // A line written inside the handler names the span active there, the access line the
    // server span; neither the caller's.
    const success = ca.logLines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((record) => record['message'] === 'login.success');
    expect(success?.['trace_id']).toBe(INCOMING_TRACE);
    expect(spans.map((span) => span.spanContext().spanId)).toContain(success?.['span_id']);
    expect(accessRecord('/v1/auth/login')['span_id']).toBe(http.spanContext().spanId);
  });

  it('starts a root span when no trace comes in; its trace id is the correlation id', async () => {
    await login();
    const http = (await finished()).find((span) => span.name === 'identity.http.login');
    expect(http?.parentSpanContext).toBeUndefined();
    expect((await loginEvents()).map((event) => event.correlationId)).toEqual([
      http?.spanContext().traceId,
    ]);
    expect(accessRecord('/v1/auth/login')).toMatchObject({
      trace_id: http?.spanContext().traceId,
      span_id: http?.spanContext().spanId,
    });
  });

  it('names other routes from their template and marks a failed password check', async () => {
    await ca.app.inject({ method: 'GET', url: '/v1/admin/devices/dev_x' });
    expect((await finished()).map((span) => span.name)).toContain(
      'identity.http.get.admin.devices',
    );
    exporter.reset();
    const refused = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: 'hillside', username: 'amina', password: 'wrong wrong wrong' },
    });
    expect(refused.statusCode).toBe(401);
    const spans = await finished();
    const http = spans.find((span) => span.name === 'identity.http.login');
    expect(http?.attributes['http.response.status_code']).toBe(401);
    expect(http?.attributes['result']).toBe('invalid_credentials');
    const verify = spans.find((span) => span.name === 'identity.domain.verify_password');
    expect(verify?.attributes['result']).toBe('mismatch');
  });
});
