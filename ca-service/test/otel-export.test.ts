import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { ROOT_CONTEXT, SamplingDecision } from '@opentelemetry/api';
import { TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrivateNats } from '../../test/support/nats.js';
import { startNats } from '../../test/support/nats.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  TEST_PASSPHRASE,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import { DEFAULT_SAMPLE_RATIO, tracingConfigFromEnv } from '../src/observability/otel-sdk.js';
import { IDENTITY_STREAM } from '../src/outbox/identity-streams.js';
import type { RunningCa } from '../src/serve.js';
import { serve } from '../src/serve.js';
import { streamMessages, until } from './support/jetstream.js';

// --- a local OTLP/HTTP receiver: what a collector's :4318/v1/traces would get ------------------

interface OtlpValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: OtlpValue[] };
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: OtlpAttribute[];
  status?: { code?: number };
}
interface OtlpRequest {
  resourceSpans: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: { spans: OtlpSpan[] }[];
  }[];
}

/** A received span, its attributes flattened. */
interface Received {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  service: unknown;
}

function plain(value: OtlpValue): unknown {
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(plain);
  if (value.intValue !== undefined) return Number(value.intValue);
  return value.stringValue ?? value.boolValue ?? value.doubleValue;
}

const flatten = (attributes: OtlpAttribute[] = []) =>
  Object.fromEntries(attributes.map((attribute) => [attribute.key, plain(attribute.value)]));

interface Receiver {
  url: string;
  contentTypes: string[];
  spans(): Received[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const type = String(request.headers['content-type']);
      contentTypes.push(type);
      if (request.url !== '/v1/traces' || request.method !== 'POST') {
        response.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpRequest;
      for (const resourceSpans of body.resourceSpans) {
        const service = flatten(resourceSpans.resource.attributes)['service.name'];
        for (const scope of resourceSpans.scopeSpans) {
          for (const span of scope.spans) {
            received.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId || undefined,
              name: span.name,
              kind: span.kind,
              attributes: flatten(span.attributes),
              service,
            });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    contentTypes,
    spans: () => received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

// --- configuration from the standard variables --------------------------------------------------

describe('tracing configuration from OTEL_* variables', () => {
  it('refuses values it cannot honour, naming the variable', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
    const bad: [Record<string, string>, RegExp][] = [
      [{ ...endpoint, OTEL_TRACES_SAMPLER_ARG: '1.5' }, /OTEL_TRACES_SAMPLER_ARG/],
      [{ ...endpoint, OTEL_TRACES_SAMPLER_ARG: 'ten' }, /OTEL_TRACES_SAMPLER_ARG/],
      [{ ...endpoint, OTEL_TRACES_SAMPLER: 'jaeger_remote' }, /OTEL_TRACES_SAMPLER=/],
      [{ OTEL_TRACES_EXPORTER: 'zipkin' }, /OTEL_TRACES_EXPORTER=zipkin/],
      [{ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /OTEL_EXPORTER_OTLP_PROTOCOL=grpc/],
      [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://collector/v1/traces' }, /not an http/],
    ];
    for (const [env, message] of bad) expect(() => tracingConfigFromEnv(env)).toThrow(message);
  });

  it('is off unless a variable asks for it, and when one turns it off', () => {
    expect(tracingConfigFromEnv({})).toBeUndefined();
    expect(tracingConfigFromEnv({ OTEL_SERVICE_NAME: 'x' })).toBeUndefined();
    expect(tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
    expect(
      tracingConfigFromEnv({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' }),
    ).toBeUndefined();
  });

  it('defaults to the spec: 10 % head sampling, OTLP/HTTP protobuf, service lantern-ca', () => {
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toEqual(
      {
        endpoint: 'http://collector:4318/v1/traces',
        protocol: 'http/protobuf',
        ratio: DEFAULT_SAMPLE_RATIO,
        resource: { 'service.name': 'lantern-ca' },
      },
    );
    expect(
      tracingConfigFromEnv({
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector/custom',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_TRACES_SAMPLER: 'parentbased_always_on',
        OTEL_SERVICE_NAME: 'ca-eu',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=id%20ops',
      }),
    ).toEqual({
      endpoint: 'https://collector/custom',
      protocol: 'http/json',
      ratio: 1,
      resource: { 'service.name': 'ca-eu', 'deployment.environment': 'prod', team: 'id ops' },
    });
  });
});

// --- a served CA exporting to the receiver ---------------------------------------------------------

const PASSWORD = 'correct horse battery';
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/**
 * A trace id the 10 % ratio keeps (or drops): the relay's publish spans, which run after the
 * request, decide on the trace id alone (docs/observability.md), so a caller's flag and the
 * ratio agree only for such ids.
 */
function traceIdTheRatio(keeps: boolean): string {
  const ratio = new TraceIdRatioBasedSampler(DEFAULT_SAMPLE_RATIO);
  for (;;) {
    const id = hex(16);
    const decision = ratio.shouldSample(ROOT_CONTEXT, id).decision;
    if ((decision === SamplingDecision.RECORD_AND_SAMPLED) === keeps) return id;
  }
}

describe('a served CA with OTEL_* set exports its spans over OTLP/HTTP', () => {
  let nats: PrivateNats;
  let ca: TestCa;
  let receiver: Receiver;
  let running: RunningCa | undefined;
  let tenantId: string;
  const loginTrace = traceIdTheRatio(true);
  const callerSpan = hex(8);
  const inviteTrace = hex(16);
  const adminTrace = hex(16);
  const inviteSpan = hex(8);
  const unsampledTrace = traceIdTheRatio(false);
  const reuseTraces: string[] = [];
  let loginEcho = '';

  const post = (path: string, body: unknown, extra: Record<string, string>) =>
    fetch(`${running?.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...extra },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    [nats, ca, receiver] = await Promise.all([startNats(), startTestCa(), startReceiver()]);
    tenantId = await createTenant(ca, 'Hillside');
    await createUser(ca, tenantId, 'amina', PASSWORD);
    // The producer's stream exists before the inbox starts, so it need not poll for it.
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'TENANT', subjects: ['tenant.>'] });
    await jsm.streams.add({ name: 'GDPR', subjects: ['gdpr.>'] });
    running = await serve({
      dataDir: ca.dir,
      passphrase: TEST_PASSPHRASE,
      port: 0,
      host: '127.0.0.1',
      nats: nats.url,
      tracing: tracingConfigFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_SERVICE_NAME: 'lantern-ca-under-test',
      }),
    });
    // 1. A sampled caller: the whole login trace is exported under the caller's span.
    const login = await post(
      '/v1/auth/login',
      { tenant: 'hillside', username: 'amina', password: PASSWORD },
      {
        traceparent: `00-${loginTrace}-${callerSpan}-01`,
        baggage: 'tenant_id=forged,actor_role=admin,request_id=forged,region=eu',
      },
    );
    expect(login.status).toBe(200);
    loginEcho = String(login.headers.get('traceparent'));
    const { refreshToken } = (await login.json()) as { refreshToken: string };

    // 2. An unsampled caller whose login is refused (a 401 is an outcome, not an error): dropped.
    const refused = await post(
      '/v1/auth/login',
      { tenant: 'hillside', username: 'amina', password: 'wrong wrong wrong' },
      { traceparent: `00-${unsampledTrace}-${hex(8)}-00` },
    );
    expect(refused.status).toBe(401);

    // 3. Unsampled refreshes: the rotation is dropped, the reuse of the old token is kept.
    for (const expected of [200, 401]) {
      const trace = traceIdTheRatio(false);
      reuseTraces.push(trace);
      const response = await post(
        '/v1/auth/refresh',
        { refreshToken },
        { traceparent: `00-${trace}-${hex(8)}-00` },
      );
      expect(response.status).toBe(expected);
    }

    // 4. An admin call, sampled: its spans carry the role the admin key proved.
    const adminCall = await fetch(`${running.url}/v1/admin/devices`, {
      headers: {
        authorization: `Bearer ${ca.adminKey}`,
        traceparent: `00-${adminTrace}-${hex(8)}-01`,
      },
    });
    expect(adminCall.status).toBe(200);

    // 5. Another service's message on NATS, carrying its trace context to the inbox.
    const h = headers();
    h.set('traceparent', `00-${inviteTrace}-${inviteSpan}-01`);
    h.set('baggage', `tenant_id=${tenantId}`);
    const invite = {
      eventId: ca.ctx.ids.next('evt'),
      eventType: 'tenant.org.user_invited',
      eventVersion: 1,
      occurredAt: new Date().toISOString(),
      tenantId,
      actor: { type: 'system', id: 'tenant-service' },
      correlationId: inviteTrace,
      partitionKey: 'new.teacher',
      payload: { inviteId: 'inv_1', username: 'new.teacher', role: 'teacher' },
    };
    await jetstream(nc).publish('tenant.org.user_invited.v1', JSON.stringify(invite), {
      msgID: invite.eventId,
      headers: h,
    });
    await until(
      async () =>
        (await ca.ctx.store.db
          .prepare("SELECT 1 FROM users WHERE username = 'new.teacher'")
          .get()) !== undefined,
    );
    await until(
      async () =>
        (await jsm.streams.info(IDENTITY_STREAM)).state.messages === (await ca.eventCount()),
    );
    await nc.close();
    // Stopping flushes what is still queued.
    await running.close();
    running = undefined;
  }, 90_000);

  afterAll(async () => {
    await running?.close();
    await Promise.all([ca?.close(), receiver?.close(), nats?.stop()]);
  });

  const inTrace = (traceId: string) => receiver.spans().filter((span) => span.traceId === traceId);
  const named = (spans: Received[], name: string) => {
    const found = spans.filter((span) => span.name === name);
    expect(found.map((span) => span.name)).toEqual([name]);
    return found[0] as Received;
  };

  it('sends OTLP JSON with the service name from OTEL_SERVICE_NAME', () => {
    expect(receiver.contentTypes.length).toBeGreaterThan(0);
    expect(new Set(receiver.contentTypes)).toEqual(new Set(['application/json']));
    expect(new Set(receiver.spans().map((span) => span.service))).toEqual(
      new Set(['lantern-ca-under-test']),
    );
  });

  it('drops the unsampled refused login and the unsampled rotation', () => {
    expect(inTrace(unsampledTrace)).toEqual([]);
    expect(inTrace(reuseTraces[0] ?? '')).toEqual([]);
  });

  it('honours the caller traceparent: identity.http.login is its child, the echo names it', () => {
    const http = named(inTrace(loginTrace), 'identity.http.login');
    expect(http.parentSpanId).toBe(callerSpan);
    expect(http.kind).toBe(2); // SERVER
    expect(loginEcho).toBe(`00-${loginTrace}-${http.spanId}-01`);
    expect(http.attributes).toMatchObject({
      'http.route': '/v1/auth/login',
      'http.response.status_code': 200,
      tenant_id: tenantId,
      actor_role: 'learner',
      mfa_required: false,
      result: 'success',
    });
    expect(http.attributes['user_id_hash']).toMatch(/^hash:[0-9a-f]{16}$/);
    // Baggage is the CA's own word, never the caller's.
    expect(http.attributes['request_id']).toMatch(/^[0-9A-Za-z]+$/);
    expect(http.attributes['request_id']).not.toBe('forged');
  });

  it('records the spec spans of a login as children of identity.http.login', () => {
    const spans = inTrace(loginTrace);
    const http = named(spans, 'identity.http.login');
    const children = spans.filter((span) => span.parentSpanId === http.spanId);
    expect(children.map((span) => span.name).sort()).toEqual(
      [
        'identity.db.append',
        'identity.db.load_user',
        'identity.domain.evaluate_mfa',
        'identity.domain.verify_password',
        'identity.kms.sign_jwt',
      ].sort(),
    );
    for (const child of children) {
      expect(child.attributes['request_id']).toBe(http.attributes['request_id']);
    }
    expect(named(spans, 'identity.db.load_user').attributes).toMatchObject({ 'db.rows': 2 });
    expect(named(spans, 'identity.db.load_user').attributes['db.duration_ms']).toEqual(
      expect.any(Number),
    );
    const verify = named(spans, 'identity.domain.verify_password').attributes;
    expect(verify['result']).toBe('match');
    expect(verify['duration_argon2_ms']).toBeGreaterThan(0);
    expect(verify['tenant_id']).toBe(tenantId);
    expect(named(spans, 'identity.domain.evaluate_mfa').attributes).toMatchObject({
      mfa_required: false,
      reasons: [],
      actor_role: 'learner',
    });
    const sign = named(spans, 'identity.kms.sign_jwt').attributes;
    expect(sign['kms.key_id']).toBe(ca.ctx.tokenKeys.activeKid);
    expect(sign['duration_ms']).toEqual(expect.any(Number));
  });

  it('continues the trace on NATS: publish spans, injected into the message headers', async () => {
    const publishes = inTrace(loginTrace).filter((span) => span.name === 'identity.outbox.publish');
    expect(publishes.map((span) => span.attributes['topic']).sort()).toEqual([
      'identity.session.created',
      'identity.user.logged_in',
    ]);
    const messages = await streamMessages(nats.url, IDENTITY_STREAM);
    for (const publish of publishes) {
      expect(publish.kind).toBe(4); // PRODUCER
      expect(publish.attributes['tenant_id']).toBe(tenantId);
      const message = messages.find(
        (candidate) => candidate.headers?.get('Nats-Msg-Id') === publish.attributes['event_id'],
      );
      expect(message?.headers?.get('traceparent')).toBe(`00-${loginTrace}-${publish.spanId}-01`);
      expect(message?.headers?.get('baggage')).toBe(`tenant_id=${tenantId}`);
    }
  });

  it('carries the role an admin key proved on the admin call span', () => {
    const http = named(inTrace(adminTrace), 'identity.http.get.admin.devices');
    expect(http.attributes).toMatchObject({ actor_role: 'admin' });
    expect(http.attributes['request_id']).toEqual(expect.any(String));
  });

  it('extracts the trace context of a consumed message', () => {
    const consumed = named(inTrace(inviteTrace), 'identity.inbox.process');
    expect(consumed.parentSpanId).toBe(inviteSpan);
    expect(consumed.kind).toBe(5); // CONSUMER
    expect(consumed.attributes).toMatchObject({ tenant_id: tenantId, outcome: 'user_created' });
  });

  it('keeps an unsampled trace in which a refresh token was reused, marked by the tail rule', () => {
    const spans = inTrace(reuseTraces[1] ?? '');
    const http = named(spans, 'identity.http.refresh');
    const reuse = named(spans, 'identity.rotation_reuse_detected');
    expect(reuse.parentSpanId).toBe(http.spanId);
    expect(reuse.attributes).toMatchObject({ tenant_id: tenantId });
    for (const span of spans) expect(span.attributes['sampling.rule']).toBe('rotation_reuse');
    expect(http.attributes['http.response.status_code']).toBe(401);
  });
});
