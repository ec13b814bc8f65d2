import { createLogger, createRedactor } from '@lantern/shared';
import type { Context, Tracer } from '@opentelemetry/api';
import { ROOT_CONTEXT, SpanStatusCode, TraceFlags, context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidCredentialsError } from '../src/errors.js';
import { tracerProvider } from '../src/observability/otel-sdk.js';
import {
  SPANS,
  contextForCorrelation,
  inSpan,
  runInRequestScope,
  setSpanRedactor,
  traceLogFields,
} from '../src/observability/tracing.js';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** A real provider (head sampler, tail rule, batch processor) exporting to memory. */
function setUp(ratio: number, tailLimits?: Parameters<typeof tracerProvider>[0]['tailLimits']) {
  const exporter = new InMemorySpanExporter();
  const provider = tracerProvider({ ratio, exporter, ...(tailLimits ? { tailLimits } : {}) });
  const tracer = provider.getTracer('test');
  return {
    tracer,
    provider,
    async exported(): Promise<ReadableSpan[]> {
      await provider.forceFlush();
      return exporter.getFinishedSpans();
    },
  };
}

/** A local root with one child; `child` may mark the child before it ends. */
function rootWithChild(
  tracer: Tracer,
  childName = 'child',
  mark: (child: ReturnType<Tracer['startSpan']>) => void = () => undefined,
  parent: Context = ROOT_CONTEXT,
): string {
  const root = tracer.startSpan('root', {}, parent);
  const child = tracer.startSpan(childName, {}, trace.setSpan(parent, root));
  mark(child);
  child.end();
  root.end();
  return root.spanContext().traceId;
}

const byTrace = (spans: ReadableSpan[]) => {
  const traces = new Map<string, ReadableSpan[]>();
  for (const span of spans) {
    const id = span.spanContext().traceId;
    traces.set(id, [...(traces.get(id) ?? []), span]);
  }
  return traces;
};

describe('head sampling 10 % with the tail rule (real SDK, in-memory exporter)', () => {
  it('drops most ok traces and exports the kept ones whole, unmarked', async () => {
    const { tracer, exported } = setUp(0.1);
    for (let i = 0; i < 2000; i += 1) rootWithChild(tracer);
    const traces = byTrace(await exported());
    // 200 expected; ±6 standard deviations (binomial, sd ≈ 13.4).
    expect(traces.size).toBeGreaterThan(120);
    expect(traces.size).toBeLessThan(280);
    for (const spans of traces.values()) {
      expect(spans.map((span) => span.name).sort()).toEqual(['child', 'root']);
      for (const span of spans) expect(span.attributes['sampling.rule']).toBeUndefined();
    }
  });

  it('keeps every trace holding an error span, whole, marked when the ratio had dropped it', async () => {
    const { tracer, exported } = setUp(0.1);
    const ids = new Set<string>();
    for (let i = 0; i < 300; i += 1) {
      ids.add(
        rootWithChild(tracer, 'child', (child) => child.setStatus({ code: SpanStatusCode.ERROR })),
      );
    }
    const traces = byTrace(await exported());
    expect(new Set(traces.keys())).toEqual(ids);
    const marked = [...traces.values()].filter((spans) =>
      spans.every((span) => span.attributes['sampling.rule'] === 'error'),
    );
    expect(marked.length).toBeGreaterThan(200);
    for (const spans of traces.values()) {
      expect(spans).toHaveLength(2);
      for (const span of spans) {
        expect(span.spanContext().traceFlags & TraceFlags.SAMPLED).toBe(TraceFlags.SAMPLED);
      }
    }
  });

  it('keeps every trace in which a refresh token was reused, even at ratio 0', async () => {
    const { tracer, exported } = setUp(0);
    const kept = rootWithChild(tracer, SPANS.rotationReuse);
    rootWithChild(tracer);
    const traces = byTrace(await exported());
    expect([...traces.keys()]).toEqual([kept]);
    expect(traces.get(kept)?.map((span) => span.attributes['sampling.rule'])).toEqual([
      'rotation_reuse',
      'rotation_reuse',
    ]);
  });

  it('follows a caller sampled flag at ratio 0, and decides a correlation parent on its trace id', async () => {
    const { tracer, exported } = setUp(0);
    const sampledCaller = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: hex(16),
      spanId: hex(8),
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    const followed = rootWithChild(tracer, 'child', () => undefined, sampledCaller);
    // The relay's parent claims nothing: at ratio 0 its trace is not kept, whatever the flag.
    rootWithChild(tracer, 'child', () => undefined, contextForCorrelation(hex(16)));
    expect([...byTrace(await exported()).keys()]).toEqual([followed]);

    const all = setUp(1);
    const correlated = hex(16);
    rootWithChild(all.tracer, 'publish', () => undefined, contextForCorrelation(correlated));
    expect([...byTrace(await all.exported()).keys()]).toEqual([correlated]);
  });

  it('bounds the traces callers force with their flag: a flood past the budget is dropped', async () => {
    let now = 1_000_000;
    const exporter = new InMemorySpanExporter();
    const provider = tracerProvider({
      ratio: 0,
      exporter,
      forcedTracesPerSecond: 5,
      now: () => now,
    });
    const tracer = provider.getTracer('test');
    const forced = () =>
      rootWithChild(
        tracer,
        'child',
        () => undefined,
        trace.setSpanContext(ROOT_CONTEXT, {
          traceId: hex(16),
          spanId: hex(8),
          traceFlags: TraceFlags.SAMPLED,
          isRemote: true,
        }),
      );
    const exportedTraces = async () => {
      await provider.forceFlush();
      return byTrace(exporter.getFinishedSpans());
    };
    for (let i = 0; i < 200; i += 1) forced();
    // A burst of twice the rate, each kept whole (root and child), then nothing.
    const burst = await exportedTraces();
    expect(burst.size).toBe(10);
    for (const spans of burst.values()) expect(spans).toHaveLength(2);
    now += 1000;
    for (let i = 0; i < 200; i += 1) forced();
    expect((await exportedTraces()).size).toBe(15);
  });

  it('exports a child that ends after its kept root, and drops the oldest trace past the bound', async () => {
    const late = setUp(0);
    const root = late.tracer.startSpan('root');
    const child = late.tracer.startSpan('late child', {}, trace.setSpan(ROOT_CONTEXT, root));
    root.setStatus({ code: SpanStatusCode.ERROR });
    root.end();
    child.end();
    expect((await late.exported()).map((span) => span.name)).toEqual(['root', 'late child']);

    const bounded = setUp(0, { maxOpenTraces: 2, maxSpansPerTrace: 8, maxTrackedSpans: 64 });
    const roots = [0, 1, 2].map(() => bounded.tracer.startSpan('root'));
    for (const open of roots) open.setStatus({ code: SpanStatusCode.ERROR });
    for (const open of roots) open.end();
    const exported = (await bounded.exported()).map((span) => span.spanContext().spanId);
    expect(exported).toEqual(roots.slice(1).map((open) => open.spanContext().spanId));
  });
});

describe('spans and log lines of the CA code (SDK registered for the test)', () => {
  afterEach(() => {
    setSpanRedactor(null);
    trace.disable();
    context.disable();
  });

  function register(): ReturnType<typeof setUp> {
    const setup = setUp(1);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(setup.provider);
    setSpanRedactor(createRedactor('test-salt'));
    return setup;
  }

  it('a refusal is an outcome (error.code, status unset); a fault is an error, its text scrubbed', async () => {
    const { exported } = register();
    expect(() =>
      inSpan('refused', () => {
        throw new InvalidCredentialsError();
      }),
    ).toThrow(InvalidCredentialsError);
    await expect(
      inSpan('faulty', async () => {
        throw new Error('store failed for amina@school.example');
      }),
    ).rejects.toThrow();
    const spans = await exported();
    const refused = spans.find((span) => span.name === 'refused');
    expect(refused?.status.code).toBe(SpanStatusCode.UNSET);
    expect(refused?.attributes['error.code']).toBe('invalid_credentials');
    expect(refused?.events).toEqual([]);
    const faulty = spans.find((span) => span.name === 'faulty');
    expect(faulty?.status.code).toBe(SpanStatusCode.ERROR);
    const message = String(faulty?.events[0]?.attributes?.['exception.message']);
    expect(message).toMatch(/^store failed for email:[0-9a-f]{16}$/);
    expect(JSON.stringify(faulty?.events)).not.toContain('amina@');
  });

  it('log lines carry trace_id and span_id: the active span, else the request echo, else none', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      service: 'test',
      salt: 'test',
      mixin: traceLogFields,
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
          done();
        },
      }),
    });
    logger.info('outside');
    const scope = { correlationId: hex(16), spanId: hex(8) };
    runInRequestScope(scope, () => logger.info('no sdk'));
    const { tracer } = register();
    const span = tracer.startSpan('active');
    context.with(trace.setSpan(ROOT_CONTEXT, span), () =>
      runInRequestScope(scope, () => logger.info('sdk')),
    );
    span.end();
    expect(lines.map((line) => [line['message'], line['trace_id'], line['span_id']])).toEqual([
      ['outside', undefined, undefined],
      ['no sdk', scope.correlationId, scope.spanId],
      ['sdk', span.spanContext().traceId, span.spanContext().spanId],
    ]);
  });
});
