/**
 * What the tail rule costs: traces shaped like a login (a server span and five children) through
 * the CA's tracer provider (`tracerProvider`: head ratio 0.1, every span recorded, the tail rule
 * deciding at the local root) against a stock SDK provider with the same ratio, which does not
 * record the 90 % it drops. Both export to a sink that discards, so this is the in-process cost.
 * A third figure, the API with no SDK (what `serve` runs without `OTEL_*`), is context.
 */
import type { Tracer } from '@opentelemetry/api';
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { tracerProvider } from '../../ca-service/src/observability/otel-sdk.js';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { interleave, opsPerSecond, ratioAtLeast, runPlan } from './harness.js';

const RATIO = 0.1;
const CHILDREN = ['load_user', 'verify_password', 'evaluate_mfa', 'append', 'sign_jwt'];

const sink: SpanExporter = {
  export: (_spans: ReadableSpan[], done) => done({ code: 0 }),
  shutdown: async () => undefined,
};

function loginShapedTrace(tracer: Tracer): void {
  const root = tracer.startSpan('identity.http.login', {}, ROOT_CONTEXT);
  const parent = trace.setSpan(ROOT_CONTEXT, root);
  for (const name of CHILDREN) tracer.startSpan(name, {}, parent).end();
  root.end();
}

export const traceSpans: Benchmark = {
  name: 'tracing',
  title: 'Login-shaped traces through the CA tracer provider (tail rule) vs a stock 10 % sampler',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const ours = tracerProvider({ ratio: RATIO, exporter: sink }).getTracer('bench');
    const stock = new TracerProvider({
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(RATIO) }),
      spanProcessors: [new BatchSpanProcessor({ exporter: sink })],
    }).getTracer('bench');
    const noSdk = trace.getTracer('bench');
    const measured = await interleave(
      [
        { name: 'ours', measure: (ms) => opsPerSecond(() => loginShapedTrace(ours), ms) },
        { name: 'baseline', measure: (ms) => opsPerSecond(() => loginShapedTrace(stock), ms) },
        { name: 'no SDK', measure: (ms) => opsPerSecond(() => loginShapedTrace(noSdk), ms) },
      ],
      runPlan(context, { warmupMs: 300, runMs: 700, runs: 5 }),
    );
    const perSpanUs = (perSecond: number | undefined) =>
      perSecond === undefined ? null : 1e6 / (perSecond * (CHILDREN.length + 1));
    return [
      ratioAtLeast(
        'Login-shaped traces, ratio 0.1 with the tail rule',
        'traces/s',
        measured['ours']?.median ?? Number.NaN,
        measured['baseline']?.median ?? Number.NaN,
        0.25,
        {
          ours: 'tracerProvider({ ratio: 0.1 }): every span recorded, kept or dropped at its root',
          baseline: 'TracerProvider + ParentBased(TraceIdRatio 0.1): dropped spans not recorded',
          usPerSpan: {
            ours: perSpanUs(measured['ours']?.median),
            baseline: perSpanUs(measured['baseline']?.median),
            noSdk: perSpanUs(measured['no SDK']?.median),
          },
          runs: measured,
        },
      ),
    ];
  },
};
