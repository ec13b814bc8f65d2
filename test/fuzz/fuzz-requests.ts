import { createDeviceProof } from '@lantern/shared';
import fc from 'fast-check';
import { sign } from 'node:crypto';
import type { EnrolledTestDevice } from '../support/device-keys.js';

/** One route as the OpenAPI document lists it: `path` keeps `{param}` placeholders. */
export interface FuzzRoute {
  method: string;
  path: string;
}

/** What a generated request may name: real ids, keys and a device that can sign proofs. */
export interface FuzzTargets {
  tenantId: string;
  otherTenantId: string;
  adminKey: string;
  tenantKey: string;
  accessToken: string;
  /** Ids of things a fuzzed admin call may change or erase (never the proving device). */
  victims: Record<string, string>;
  /** Signs proofs for device routes, so bodies get past the proof and into the handlers. */
  device: EnrolledTestDevice;
  enrollmentToken: string;
  csr: string;
}

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** Sign a device proof over exactly this request's path and body when it is sent. */
  withProof: boolean;
  /** What the generator did, for the report when a request gets a 5xx. */
  label: string;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, unknown>>;
}

/** Every documented route, plus those the document hides on purpose. */
export function routesOf(openapi: unknown): FuzzRoute[] {
  const routes: FuzzRoute[] = [
    { method: 'GET', path: '/metrics' },
    { method: 'GET', path: '/openapi.json' },
  ];
  for (const [path, methods] of Object.entries((openapi as OpenApiDocument).paths)) {
    for (const method of Object.keys(methods)) routes.push({ method: method.toUpperCase(), path });
  }
  return routes;
}

const ID_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const fakeId = (prefix: string) =>
  fc
    .string({ unit: fc.constantFrom(...ID_ALPHABET), minLength: 26, maxLength: 26 })
    .map((tail) => `${prefix}_${tail}`);

const nasty = fc.constantFrom(
  '',
  '%20',
  '..%2F..%2Fetc%2Fpasswd',
  '%00',
  '%ZZ',
  '%F0%9F%92%A9',
  'A'.repeat(5000),
  '__proto__',
  'constructor',
  '-1',
  '1e309',
  'NaN',
  'null',
  '[]',
  '{}',
  "'%20OR%201=1%20--",
);

function pathParam(name: string, targets: FuzzTargets): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...Object.values(targets.victims), targets.tenantId, targets.otherTenantId),
    fc.constantFrom('lock', 'unlock', 'suspend', 'reactivate', 'erase', 'mfa', name),
    fc.constantFrom('dev', 'usr', 'tok', 'ses', 'grt', 'key', 'ten').chain(fakeId),
    fc.string({ maxLength: 40 }).map(encodeURIComponent),
    nasty,
  );
}

const QUERY_KEYS = [
  'tenant',
  'after',
  'limit',
  'type',
  'aggregate',
  'aggregateId',
  'actor',
  'device',
  'from',
  'to',
];

function query(targets: FuzzTargets): fc.Arbitrary<string> {
  const value = fc.oneof(
    fc.constantFrom(targets.tenantId, targets.otherTenantId, '0', '1', '1000', '1001'),
    fc.integer().map(String),
    fc.string({ maxLength: 30 }).map(encodeURIComponent),
    nasty,
  );
  const pair = fc.tuple(
    fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 8 })),
    value,
  );
  return (
    fc
      .tuple(fc.array(pair, { maxLength: 4 }), fc.boolean())
      // A repeated name arrives as an array where the handler expects a string.
      .map(([pairs, repeat]) => (repeat && pairs[0] ? [...pairs, pairs[0]] : pairs))
      .map((pairs) =>
        pairs.length === 0
          ? ''
          : `?${pairs.map(([key, v]) => `${encodeURIComponent(key)}=${v}`).join('&')}`,
      )
  );
}

/** Valid bodies per route; fuzzing damages these so that requests reach past the schema. */
function templates(targets: FuzzTargets): Record<string, Record<string, unknown>> {
  const event = {
    eventId: 'evt_01J9Z3YQ8M6W4Q9V2K7T5R3N1E',
    eventType: 'identity.user.logged_in',
    eventVersion: 1,
    occurredAt: '2026-11-23T10:00:00.000Z',
    tenantId: targets.tenantId,
    actor: { type: 'device', id: targets.device.deviceId },
    correlationId: 'evt_01J9Z3YQ8M6W4Q9V2K7T5R3N1E',
    partitionKey: targets.device.deviceId,
    payload: {
      userId: targets.victims['user'],
      sessionId: 'ses_01J9Z3YQ8M6W4Q9V2K7T5R3N1E',
      offline: true,
      deviceId: targets.device.deviceId,
      amr: ['pwd'],
    },
  };
  return {
    'POST /v1/devices/enroll': { enrollmentToken: targets.enrollmentToken, csr: targets.csr },
    'POST /v1/devices/renew': { csr: targets.csr },
    'POST /v1/auth/login': { tenant: targets.tenantId, username: 'fuzzy', password: 'x' },
    'POST /v1/auth/refresh': { refreshToken: 'rt_x' },
    'POST /v1/auth/logout': { refreshToken: 'rt_x' },
    'POST /v1/sync': { events: [{ seq: 1, event }], revocationCursor: 0, jwksEtag: 'x' },
    'POST /v1/admin/tenants': { name: 'Fuzz tenant', slug: 'fuzz-tenant' },
    'POST /v1/admin/enrollment-tokens': { tenant: targets.tenantId, ttlSeconds: 600 },
    'POST /v1/admin/users': {
      tenant: targets.tenantId,
      username: 'newbie',
      role: 'learner',
      password: 'a long enough password',
    },
    'POST /v1/admin/api-keys': { tenant: targets.tenantId, scopes: ['devices:read'] },
    'POST /v1/admin/devices/{id}/revoke': { reason: 'lost' },
    'POST /v1/admin/users/{id}/{action}': { reason: 'fuzz' },
    'PUT /v1/admin/tenants/{id}/mfa-policy': {
      roles: { learner: { required: [], offline: ['password'] } },
    },
    'PUT /v1/admin/tenants/{id}/risk-policy': {
      enabled: true,
      weights: { new_device: 20 },
      activeHours: { from: 6, to: 20, timeZone: 'Africa/Nairobi' },
      locations: [{ cidr: '203.0.113.0/24', name: 'Campus', lat: -1.29, lon: 36.82 }],
    },
    'POST /v1/mfa/totp/confirm': { code: '123456' },
  };
}

/** Replaces, removes or adds one member at any depth of a JSON value. */
function damaged(template: unknown): fc.Arbitrary<unknown> {
  if (typeof template !== 'object' || template === null) {
    return fc.oneof(fc.constant(template), fc.jsonValue());
  }
  const entries: [string, unknown][] = Array.isArray(template)
    ? template.map((value: unknown, index) => [String(index), value])
    : Object.entries(template);
  const rebuild = (members: [string, unknown][]) =>
    Array.isArray(template) ? members.map(([, value]) => value) : Object.fromEntries(members);
  const options: fc.Arbitrary<unknown>[] = [
    fc.constant(template),
    fc
      .tuple(fc.string({ maxLength: 12 }), fc.jsonValue())
      .map(([key, value]) => rebuild([...entries, [key, value]])),
  ];
  if (entries.length > 0) {
    const index = fc.nat({ max: entries.length - 1 });
    options.push(
      index.map((i) => rebuild(entries.filter((_, j) => j !== i))),
      fc
        .tuple(index, fc.oneof(fc.jsonValue(), fc.string({ maxLength: 5000 }), nastyValue))
        .map(([i, value]) => rebuild(entries.map(([key, old], j) => [key, j === i ? value : old]))),
      index.chain((i) =>
        damaged(entries[i]?.[1]).map((value) =>
          rebuild(entries.map(([key, old], j) => [key, j === i ? value : old])),
        ),
      ),
    );
  }
  return fc.oneof(...options);
}

const nastyValue = fc.constantFrom<unknown>(
  -1,
  0,
  1e308,
  -0,
  2 ** 53 + 1,
  1.5,
  true,
  null,
  [],
  {},
  '',
  '\u0000',
  '\ud800',
  '__proto__',
  { __proto__: { polluted: true } },
  'x'.repeat(70_000),
);

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/octet-stream',
  'application/jsonx',
  '*/*',
  ';;;',
];

type Body = [kind: string, bytes: string | Buffer];

function body(route: FuzzRoute, targets: FuzzTargets): fc.Arbitrary<Body> {
  const template = templates(targets)[`${route.method} ${route.path}`] ?? {};
  const json = fc.oneof(
    { weight: 4, arbitrary: damaged(template) },
    { weight: 2, arbitrary: fc.jsonValue() },
    { weight: 1, arbitrary: fc.anything().map((value) => safeJsonValue(value)) },
  );
  return fc.oneof(
    { weight: 6, arbitrary: json.map((value): Body => ['json', JSON.stringify(value) ?? 'null']) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constant(JSON.stringify(template)), fc.nat())
        .map(([text, cut]): Body => ['truncated', text.slice(0, cut % Math.max(text.length, 1))]),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(20 * 1024, 1100 * 1024, 2200 * 1024)
        .map((size): Body => ['oversized', JSON.stringify({ ...template, pad: 'x'.repeat(size) })]),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 300 }).map((b): Body => ['bytes', Buffer.from(b)]),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((text): Body => ['text', text]) },
  );
}

/** fc.anything() also yields values JSON cannot carry; keep what it can. */
function safeJsonValue(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value) ?? 'null') as unknown;
  } catch {
    return null;
  }
}

function authorization(targets: FuzzTargets): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(`Bearer ${targets.adminKey}`) },
    { weight: 2, arbitrary: fc.constant(`Bearer ${targets.tenantKey}`) },
    { weight: 1, arbitrary: fc.constant(`Bearer ${targets.accessToken}`) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    fc.constantFrom(
      'Bearer ',
      'Basic YWRtaW46YWRtaW4=',
      'Bearer lk_AAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      `Bearer ${targets.adminKey.slice(0, -1)}x`,
      `Bearer ${targets.accessToken.slice(0, -4)}AAAA`,
      `Bearer ${'A'.repeat(9000)}`,
    ),
    // Header values travel as printable ASCII; anything else no HTTP client would send.
    fc.string({ unit: 'grapheme-ascii', maxLength: 60 }).map((text) => `Bearer ${text}`),
  );
}

/**
 * A random request against one of `routes`: real and fake path ids, query filters, damaged
 * valid bodies, arbitrary JSON, truncated and oversized bodies, wrong content types, good and
 * bad credentials, and, for roughly half the requests, a valid device proof over the body.
 */
export function fuzzRequest(routes: FuzzRoute[], targets: FuzzTargets): fc.Arbitrary<FuzzRequest> {
  const route = fc.oneof(
    { weight: 20, arbitrary: fc.constantFrom(...routes) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
          fc.string({ maxLength: 30 }),
        )
        .map(([method, tail]) => ({ method, path: `/v1/${encodeURIComponent(tail)}` })),
    },
  );
  return route.chain((picked) => {
    const names = [...picked.path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] ?? '');
    const hasBody = picked.method !== 'GET' && picked.method !== 'DELETE';
    return fc
      .record({
        params: fc.tuple(...names.map((name) => pathParam(name, targets))),
        query: picked.method === 'GET' ? query(targets) : fc.constant(''),
        payload: hasBody ? fc.option(body(picked, targets), { freq: 8 }) : fc.constant(null),
        contentType: fc.oneof(
          { weight: 8, arbitrary: fc.constant('application/json') },
          { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
          { weight: 1, arbitrary: fc.constant(undefined) },
        ),
        auth: authorization(targets),
        withProof: fc.boolean(),
      })
      .map(({ params, query: search, payload, contentType, auth, withProof }) => {
        let index = 0;
        const path = picked.path.replace(/\{[^}]+\}/g, () => params[index++] ?? '');
        const headers: Record<string, string> = {};
        if (auth !== undefined) headers['authorization'] = auth;
        if (payload !== null && contentType !== undefined) headers['content-type'] = contentType;
        return {
          method: picked.method,
          url: `${path}${search}`,
          headers,
          ...(payload === null ? {} : { body: payload[1] }),
          withProof,
          label: `${picked.method} ${picked.path} body=${payload?.[0] ?? 'none'} type=${
            contentType ?? 'none'
          } proof=${withProof}`,
        };
      });
  });
}

/** The proof header for a request that asked for one, signed now over its exact bytes. */
export function proofHeaders(
  request: FuzzRequest,
  device: EnrolledTestDevice,
  nowSeconds: number,
): Record<string, string> {
  if (!request.withProof) return request.headers;
  const path = request.url.split('?')[0] ?? request.url;
  return {
    ...request.headers,
    'lantern-device-proof': createDeviceProof({
      method: request.method,
      url: `http://ca.test${path}`,
      body: request.body ?? '',
      x5c: device.x5c,
      nowSeconds,
      sign: (data) =>
        sign('sha256', data, { key: device.key.privateKey, dsaEncoding: 'ieee-p1363' }),
    }),
  };
}
