import type { Logger, Redactor } from '@lantern/shared';
import { UsageError } from '@lantern/shared';
import type { Attributes, Context, DiagLogger, Link, SpanKind } from '@opentelemetry/api';
import {
  DiagLogLevel,
  SpanStatusCode,
  TraceFlags,
  context,
  diag,
  propagation,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type {
  ReadableSpan,
  Sampler,
  SamplingResult,
  Span,
  SpanExporter,
  SpanProcessor,
} from '@opentelemetry/sdk-trace';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  TracerProvider,
  createAlwaysRecordSampler,
} from '@opentelemetry/sdk-trace';
import { hostname } from 'node:os';
import {
  BAGGAGE_KEYS,
  CORRELATION_PARENT,
  SPANS,
  currentRequestScope,
  setSpanRedactor,
} from './tracing.js';

/** The spec's head-sampling baseline (§3.3). */
export const DEFAULT_SAMPLE_RATIO = 0.1;

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface TracingConfig {
  /** Full URL the spans are POSTed to (`…/v1/traces`). */
  endpoint: string;
  protocol: OtlpProtocol;
  /** Head sampling ratio of new traces; a caller's sampled flag is followed within a budget. */
  ratio: number;
  resource: Record<string, string>;
}

type Env = Readonly<Record<string, string | undefined>>;

const SAMPLER_RATIOS: Readonly<Record<string, number | 'arg'>> = {
  parentbased_traceidratio: 'arg',
  traceidratio: 'arg',
  parentbased_always_on: 1,
  always_on: 1,
  parentbased_always_off: 0,
  always_off: 0,
};

function value(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}

/** `k=v,k2=v2`, values percent-encoded (the OTel resource SDK's format). */
function resourceAttributes(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (raw ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    try {
      out[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      throw new UsageError(`OTEL_RESOURCE_ATTRIBUTES: ${pair} is not percent-encoded`);
    }
  }
  return out;
}

function tracesUrl(env: Env): string {
  const specific = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ?? 'http://localhost:4318';
  const url = specific ?? `${base.replace(/\/+$/, '')}/v1/traces`;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new UsageError(`the OTLP traces endpoint ${url} is not an http(s) URL`);
  }
  return url;
}

/**
 * Tracing from the standard `OTEL_*` variables, or undefined (no SDK, spans cost nothing) when
 * none asks for it: on when `OTEL_TRACES_EXPORTER=otlp` or an OTLP endpoint is set, off with
 * `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. Invalid values stop `serve`.
 */
export function tracingConfigFromEnv(env: Env): TracingConfig | undefined {
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const exporters = value(env, 'OTEL_TRACES_EXPORTER')
    ?.split(',')
    .map((name) => name.trim().toLowerCase());
  if (exporters?.includes('none')) return undefined;
  const unsupported = exporters?.filter((name) => name !== 'otlp') ?? [];
  if (unsupported.length > 0) {
    throw new UsageError(
      `OTEL_TRACES_EXPORTER=${unsupported.join(',')}: only otlp (or none) is supported`,
    );
  }
  const endpointSet =
    value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') !== undefined ||
    value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined;
  if (exporters === undefined && !endpointSet) return undefined;

  const protocol =
    value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ??
    value(env, 'OTEL_EXPORTER_OTLP_PROTOCOL') ??
    'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new UsageError(
      `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: only http/protobuf and http/json are supported`,
    );
  }

  const samplerName = value(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase();
  const rule = samplerName === undefined ? 'arg' : SAMPLER_RATIOS[samplerName];
  if (rule === undefined) {
    throw new UsageError(
      `OTEL_TRACES_SAMPLER=${samplerName}: use one of ${Object.keys(SAMPLER_RATIOS).join(', ')}`,
    );
  }
  const arg = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  const ratio = rule === 'arg' ? (arg === undefined ? DEFAULT_SAMPLE_RATIO : Number(arg)) : rule;
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new UsageError(`OTEL_TRACES_SAMPLER_ARG=${arg}: give a ratio from 0 to 1`);
  }

  const resource = resourceAttributes(value(env, 'OTEL_RESOURCE_ATTRIBUTES'));
  resource['service.name'] =
    value(env, 'OTEL_SERVICE_NAME') ?? resource['service.name'] ?? 'lantern-ca';
  return { endpoint: tracesUrl(env), protocol, ratio, resource };
}

/**
 * How many traces per second callers may force into the export with their sampled flag beyond
 * what the ratio keeps. A device chooses its own `traceparent`, so an unbounded flag would let
 * any device fill the trace backend.
 */
export const DEFAULT_FORCED_TRACES_PER_SECOND = 5;

/**
 * A token bucket of forced traces: `perSecond` refill, a burst of twice that, on the injected
 * clock.
 */
class ForcedTraceBudget {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number,
  ) {
    this.tokens = perSecond * 2;
    this.refilledAt = now();
  }

  take(): boolean {
    const at = this.now();
    const burst = this.perSecond * 2;
    this.tokens = Math.min(burst, this.tokens + ((at - this.refilledAt) / 1000) * this.perSecond);
    this.refilledAt = at;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Head sampling: a new trace is kept with probability `ratio` (decided on its trace id, so
 * every process that sees the trace decides alike); a caller's sampled flag is followed within
 * the forced-trace budget, past it the trace id decides; a parent made up from a correlation
 * id (the relay's publish) has no flag worth following, so its trace id decides as it did for
 * the request that started the trace.
 */
class HeadSampler implements Sampler {
  private readonly byTraceId: TraceIdRatioBasedSampler;
  private readonly parentBased: ParentBasedSampler;

  constructor(
    private readonly ratio: number,
    budget: ForcedTraceBudget,
  ) {
    const byTraceId = new TraceIdRatioBasedSampler(ratio);
    this.byTraceId = byTraceId;
    this.parentBased = new ParentBasedSampler({
      root: byTraceId,
      remoteParentSampled: {
        shouldSample(parent: Context, traceId: string): SamplingResult {
          const byRatio = byTraceId.shouldSample(parent, traceId);
          if (byRatio.decision === SamplingDecision.RECORD_AND_SAMPLED) return byRatio;
          return budget.take() ? { decision: SamplingDecision.RECORD_AND_SAMPLED } : byRatio;
        },
        toString: () => `ForcedTraceBudget{${byTraceId.toString()}}`,
      },
    });
  }

  shouldSample(
    parent: Context,
    traceId: string,
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    return parent.getValue(CORRELATION_PARENT) === true
      ? this.byTraceId.shouldSample(parent, traceId)
      : this.parentBased.shouldSample(parent, traceId, name, kind, attributes, links);
  }

  toString(): string {
    return `LanternHeadSampler{ratio=${this.ratio}}`;
  }
}

export interface TailLimits {
  /** Local traces remembered at once (open, or decided for their late spans). */
  maxOpenTraces: number;
  /** Spans held per local trace; later ones are dropped. */
  maxSpansPerTrace: number;
  /** Span-to-root entries remembered, for children that start after their parent ended. */
  maxTrackedSpans: number;
}

const DEFAULT_TAIL_LIMITS: TailLimits = {
  maxOpenTraces: 2048,
  maxSpansPerTrace: 256,
  maxTrackedSpans: 32_768,
};

const isSampled = (span: ReadableSpan) =>
  (span.spanContext().traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED;

/** Why a span makes the tail rule keep its local trace, or undefined. */
function keepReason(span: ReadableSpan): 'error' | 'rotation_reuse' | undefined {
  if (span.name === SPANS.rotationReuse) return 'rotation_reuse';
  if (span.status.code === SpanStatusCode.ERROR) return 'error';
  return undefined;
}

/**
 * A span the head sampler passed over, exported because the tail rule kept its trace: marked
 * sampled so the batch processor takes it, and `sampling.rule` says it is not one of the
 * ratio's (it stands for itself only, not for 1/ratio traces).
 */
function keptCopy(span: ReadableSpan, rule: string): ReadableSpan {
  const own = span.spanContext();
  const sampled = { ...own, traceFlags: own.traceFlags | TraceFlags.SAMPLED };
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => sampled,
    ...(span.parentSpanContext === undefined ? {} : { parentSpanContext: span.parentSpanContext }),
    startTime: span.startTime,
    endTime: span.endTime,
    status: span.status,
    attributes: { ...span.attributes, 'sampling.rule': rule },
    links: span.links,
    events: span.events,
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

interface LocalTrace {
  spans: ReadableSpan[];
  /** Its spans' ids, forgotten with it. */
  members: string[];
  /** Spans started and not yet ended. */
  open: number;
  /** Set once the local root ended: spans ending later follow it. */
  kept?: 'error' | 'rotation_reuse' | false;
}

/**
 * A map bounded to about `limit` entries, forgetting the oldest half at once: two generations,
 * the older dropped whole when the newer fills. O(1) per call, where evicting a Map's oldest
 * key one at a time makes each later scan from the front skip every deleted slot (measured:
 * 10x the span cost). Entries are normally deleted long before: this bounds what leaks.
 */
class Generations<V> {
  private current = new Map<string, V>();
  private previous = new Map<string, V>();
  private readonly half: number;

  constructor(limit: number) {
    this.half = Math.max(1, Math.floor(limit / 2));
  }

  get(key: string): V | undefined {
    return this.current.get(key) ?? this.previous.get(key);
  }

  set(key: string, value: V): void {
    if (this.current.size >= this.half) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(key, value);
  }

  delete(key: string): void {
    if (!this.current.delete(key)) this.previous.delete(key);
  }

  clear(): void {
    this.current.clear();
    this.previous.clear();
  }
}

/**
 * The spec's tail rules (§3.3) in process: every span is recorded (the head sampler upgrades
 * "drop" to "record only"), sampled ones go straight to `next`, the others wait, grouped by
 * their local root (the span with no parent in this process), until that root ends. Then the
 * whole group is exported if any of its spans failed or is `identity.rotation_reuse_detected`,
 * and forgotten otherwise. Spans of the group ending after the root follow its decision; the
 * group is forgotten when its last span ends (a span started later under it is a root of its
 * own). Memory is bounded by `TailLimits`: a local trace still open after about
 * `maxOpenTraces` newer ones began is dropped whole, never half-exported.
 */
export class TailSamplingProcessor implements SpanProcessor {
  private readonly rootOf: Generations<string>;
  private readonly traces: Generations<LocalTrace>;

  constructor(
    private readonly next: SpanProcessor,
    private readonly limits: TailLimits = DEFAULT_TAIL_LIMITS,
  ) {
    this.rootOf = new Generations(limits.maxTrackedSpans);
    this.traces = new Generations(limits.maxOpenTraces);
  }

  onStart(span: Span, parentContext: Context): void {
    copyBaggage(span, parentContext);
    if (isSampled(span)) {
      this.next.onStart(span, parentContext);
      return;
    }
    const parent = span.parentSpanContext;
    const own = span.spanContext().spanId;
    const parentRoot =
      parent === undefined || parent.isRemote === true ? undefined : this.rootOf.get(parent.spanId);
    const root = parentRoot ?? own;
    let local = this.traces.get(root);
    if (local === undefined) {
      local = { spans: [], members: [], open: 0 };
      this.traces.set(root, local);
    }
    local.open += 1;
    local.members.push(own);
    this.rootOf.set(own, root);
  }

  onEnd(span: ReadableSpan): void {
    if (isSampled(span)) {
      this.next.onEnd(span);
      return;
    }
    const own = span.spanContext().spanId;
    const root = this.rootOf.get(own);
    const local = root === undefined ? undefined : this.traces.get(root);
    if (root === undefined || local === undefined) return;
    local.open -= 1;
    if (local.kept === undefined) {
      if (local.spans.length < this.limits.maxSpansPerTrace) local.spans.push(span);
      if (own === root) {
        const reason = local.spans.map(keepReason).find((found) => found !== undefined);
        local.kept = reason ?? false;
        if (reason) for (const held of local.spans) this.next.onEnd(keptCopy(held, reason));
        local.spans = [];
      }
    } else if (local.kept) {
      this.next.onEnd(keptCopy(span, local.kept));
    }
    if (local.kept !== undefined && local.open <= 0) {
      this.traces.delete(root);
      for (const member of local.members) this.rootOf.delete(member);
    }
  }

  forceFlush(): Promise<void> {
    return this.next.forceFlush();
  }

  shutdown(): Promise<void> {
    this.traces.clear();
    this.rootOf.clear();
    return this.next.shutdown();
  }
}

/**
 * The spec's baggage on every span: `tenant_id`, `request_id`, `actor_role` from the request
 * being served (what the CA itself established) or else from the incoming baggage (a NATS
 * message's, set by the publishing CA).
 */
function copyBaggage(span: Span, parentContext: Context): void {
  const baggage = propagation.getBaggage(parentContext);
  const scope = currentRequestScope();
  const fromScope: Record<(typeof BAGGAGE_KEYS)[number], string | undefined> = {
    tenant_id: scope?.tenantId,
    request_id: scope?.requestId,
    actor_role: scope?.actorRole,
  };
  for (const key of BAGGAGE_KEYS) {
    const found = fromScope[key] ?? baggage?.getEntry(key)?.value;
    if (found !== undefined) span.setAttribute(key, found);
  }
}

export interface TracerProviderOptions {
  ratio: number;
  exporter: SpanExporter;
  resource?: Record<string, string>;
  tailLimits?: TailLimits;
  /** Traces per second callers may force with their sampled flag (`DEFAULT_FORCED_TRACES_PER_SECOND`). */
  forcedTracesPerSecond?: number;
  /** Milliseconds clock of the forced-trace budget. */
  now?: () => number;
}

/** The provider `startTracing` registers: head sampler, tail rule, batching `exporter`. */
export function tracerProvider(options: TracerProviderOptions): TracerProvider {
  return new TracerProvider({
    resource: resourceFromAttributes(options.resource ?? {}),
    sampler: createAlwaysRecordSampler(
      new HeadSampler(
        options.ratio,
        new ForcedTraceBudget(
          options.forcedTracesPerSecond ?? DEFAULT_FORCED_TRACES_PER_SECOND,
          options.now ?? Date.now,
        ),
      ),
    ),
    spanProcessors: [
      new TailSamplingProcessor(
        new BatchSpanProcessor({ exporter: options.exporter }),
        options.tailLimits,
      ),
    ],
  });
}

export interface RunningTracing {
  readonly config: TracingConfig;
  /** Exports what is queued, then unregisters the SDK (spans are no-ops again). */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  logger: Logger;
  /** The logs' redactor: user id pseudonyms and exception scrubbing match the logs'. */
  redactor: Redactor;
  version: string;
  tailLimits?: TailLimits;
}

/**
 * Registers the OpenTelemetry SDK for this process: AsyncLocalStorage context, W3C trace
 * context and baggage propagators, the head sampler, the tail rule and a batching OTLP/HTTP
 * exporter. Undefined when an SDK is already registered (another `serve` in this process).
 */
export function startTracing(
  config: TracingConfig,
  options: StartTracingOptions,
): RunningTracing | undefined {
  const { logger } = options;
  const exporter =
    config.protocol === 'http/json'
      ? new JsonExporter({ url: config.endpoint })
      : new ProtobufExporter({ url: config.endpoint });
  const provider = tracerProvider({
    ratio: config.ratio,
    exporter,
    resource: {
      'service.version': options.version,
      'service.instance.id': `${hostname()}-${process.pid}`,
      ...config.resource,
    },
    ...(options.tailLimits ? { tailLimits: options.tailLimits } : {}),
  });
  if (!trace.setGlobalTracerProvider(provider)) {
    logger.warn({ event: 'otel.already_registered' }, 'an OpenTelemetry SDK already runs here');
    void provider.shutdown();
    return undefined;
  }
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(
    new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
  );
  // Export failures reach the SDK's diagnostics only; without this they would be silent.
  const warn = (message: string) =>
    logger.warn({ event: 'otel.diagnostic' }, `OpenTelemetry: ${message}`);
  const diagLogger: DiagLogger = {
    error: warn,
    warn,
    info: () => undefined,
    debug: () => undefined,
    verbose: () => undefined,
  };
  diag.setLogger(diagLogger, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  setSpanRedactor(options.redactor);
  logger.info(
    {
      event: 'otel.tracing_started',
      endpoint: config.endpoint,
      protocol: config.protocol,
      ratio: config.ratio,
    },
    'exporting traces over OTLP/HTTP',
  );
  let stopping: Promise<void> | undefined;
  return {
    config,
    shutdown() {
      stopping ??= provider.shutdown().finally(() => {
        setSpanRedactor(null);
        trace.disable();
        propagation.disable();
        context.disable();
        diag.disable();
      });
      return stopping;
    },
  };
}
