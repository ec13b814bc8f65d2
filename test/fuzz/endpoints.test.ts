import type { SqliteDatabase } from '../../ca-service/src/store/sqlite-database.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../support/ca-fixture.js';
import { startTestCa } from '../support/ca-fixture.js';
import type { FuzzRequest, FuzzRoute, FuzzTargets } from './fuzz-requests.js';
import { fuzzRequest, proofHeaders, routesOf } from './fuzz-requests.js';
import { fuzzRuns } from './fuzz-support.js';
import { prepareFuzzTargets } from './fuzz-targets.js';

/**
 * docs/architecture.md §9.5 through every route the CA serves (taken from its OpenAPI document, so a new
 * route is fuzzed without a line here): status < 500, a `{ code, message }` body on every
 * refusal, and nothing written by a refused request.
 */
let ca: TestCa;
let targets: FuzzTargets;
let routes: FuzzRoute[];

// Refusals that are recorded on purpose: failed sign-ins feed the lockout and the audit trail,
// and an authenticated admin caller's 403 is an authorisation decision (docs/members.md).
const RECORDED_REFUSALS = new Set([
  'identity.user.login_failed',
  'identity.user.locked',
  'identity.authorization.decision_recorded',
]);
// The replay cache of device proofs is written before the body is looked at, by design; a refused
// sign-in's address is remembered (hashed) for the adaptive-MFA `ip_failures` rule, by design too.
const NOT_STATE = new Set(['proof_jtis', 'signin_ip_failures']);

beforeAll(async () => {
  ca = await startTestCa();
  targets = await prepareFuzzTargets(ca.app, ca.adminKey);
  routes = routesOf((await ca.app.inject({ method: 'GET', url: '/openapi.json' })).json());
});
afterAll(async () => ca.close());

function rowCounts(): Record<string, number> {
  // This CA is the embedded SQLite one: its catalogue lists the tables.
  const db = (ca.ctx.store.db as SqliteDatabase).raw;
  const tables = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    .pluck()
    .all() as string[];
  return Object.fromEntries(
    tables
      .filter((table) => !NOT_STATE.has(table))
      .map((table) => [
        table,
        (db.prepare(`SELECT count(*) FROM "${table}"`).pluck().get() as number) ?? 0,
      ]),
  );
}

async function lastPosition(): Promise<number> {
  return (
    (
      (await ca.ctx.store.db.prepare('SELECT max(position) AS head FROM events').get()) as {
        head: number | null;
      }
    ).head ?? 0
  );
}

async function fire(request: FuzzRequest) {
  const before = { rows: rowCounts(), position: await lastPosition() };
  const response = await ca.app.inject({
    method: request.method as 'GET',
    url: request.url,
    headers: proofHeaders(request, targets.device, Math.floor(ca.clock.now() / 1000)),
    ...(request.body === undefined ? {} : { payload: request.body }),
  });
  const where = `${request.label} ${request.url} → ${response.statusCode} ${response.body.slice(0, 300)}`;
  expect(response.statusCode, where).toBeLessThan(500);
  if (response.statusCode >= 400) {
    const body = JSON.parse(response.body) as { code?: unknown; message?: unknown };
    // Lantern's own codes are snake_case; a framework code (FST_ERR_…) means one slipped past.
    expect(body.code, where).toMatch(/^[a-z][a-z0-9_]*$/);
    expect(typeof body.message, where).toBe('string');
    const added = await ca.ctx.store.read({ after: before.position, limit: 100 });
    if (added.every((event) => RECORDED_REFUSALS.has(event.eventType)) && added.length > 0) return;
    expect(
      added.map((event) => event.eventType),
      where,
    ).toEqual([]);
    expect(rowCounts(), where).toEqual(before.rows);
  }
}

describe('every route, fuzzed through inject()', () => {
  it('sanity: the route list is the served API, and a valid request writes', async () => {
    expect(routes.map((route) => `${route.method} ${route.path}`)).toEqual(
      expect.arrayContaining(['POST /v1/sync', 'POST /v1/admin/users', 'GET /v1/events']),
    );
    const before = await lastPosition();
    const response = await ca.app.inject({
      method: 'POST',
      url: '/v1/admin/enrollment-tokens',
      headers: { authorization: `Bearer ${ca.adminKey}` },
      payload: { tenant: targets.tenantId },
    });
    expect(response.statusCode).toBe(201);
    expect(await lastPosition()).toBeGreaterThan(before);
  });

  it.each([
    ['a bad percent-encoding in a path id', '/v1/admin/devices/%ZZ'],
    ['an over-long path id', `/v1/admin/devices/${'a'.repeat(150)}`],
    ['a repeated tenant filter (devices)', '/v1/admin/devices?tenant=a&tenant=b'],
    ['a repeated tenant filter (users)', '/v1/admin/users?tenant=a&tenant=b'],
    ['a repeated tenant filter (tokens)', '/v1/admin/enrollment-tokens?tenant=a&tenant=b'],
  ])("regression: %s gets invalid_request in our shape, not the router's", async (_label, url) => {
    const response = await ca.admin('GET', url);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ code: 'invalid_request', message: expect.any(String) });
  });

  it('answers every generated request below 500, with a code, writing nothing on refusal', async () => {
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(fuzzRequest([route], targets), (request) => fire(request)),
        fuzzRuns(route.path.includes('/auth/login') ? 6 : 12),
      );
    }
  }, 120_000);
});
