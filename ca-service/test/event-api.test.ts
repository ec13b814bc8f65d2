import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendCheapEvents } from './support/cheap-events.js';
import type { RecordedEvent } from '../src/store/event-store.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';

let ca: TestCa;
const a = { tenant: '', reader: '', unscoped: '', user: '', other: '' };
const b = { tenant: '', user: '' };
let cheapFrom = '';
let cheapTo = '';

async function apiKey(tenant: string, scopes: string[]): Promise<string> {
  const response = await ca.admin('POST', '/v1/admin/api-keys', { tenant, scopes });
  return (response.json() as { apiKey: string }).apiKey;
}

const get = (url: string, key = a.reader) => ca.admin('GET', url, undefined, key);
const page = async (url: string, key = a.reader) =>
  (await get(url, key)).json() as { events: RecordedEvent[]; next: number };

beforeAll(async () => {
  ca = await startTestCa();
  a.tenant = await createTenant(ca, 'School A');
  b.tenant = await createTenant(ca, 'School B');
  a.reader = await apiKey(a.tenant, ['events:read']);
  a.unscoped = await apiKey(a.tenant, ['devices:read']);
  a.user = await createUser(ca, a.tenant, 'amina', 'password of amina');
  ca.clock.advance(60_000);
  a.other = await createUser(ca, a.tenant, 'ben', 'password of ben');
  b.user = await createUser(ca, b.tenant, 'bea', 'password of bea');
  const login = await ca.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: a.tenant, username: 'amina', password: 'password of amina' },
  });
  expect(login.statusCode).toBe(200);
  ca.clock.advance(60_000);
  cheapFrom = new Date(ca.clock.now()).toISOString();
  await appendCheapEvents(ca.ctx, a.tenant, 2500, { actorId: 'bulk' });
  await appendCheapEvents(ca.ctx, b.tenant, 10, { actorId: 'bulk' });
  ca.clock.advance(60_000);
  cheapTo = new Date(ca.clock.now()).toISOString();
  const locked = await ca.admin('POST', `/v1/admin/users/${a.user}/lock`, {});
  expect(locked.statusCode).toBe(200);
});
afterAll(async () => ca.close());

describe('GET /v1/events', () => {
  it('filters by type, aggregate, actor and time, and pages by position', async () => {
    const registered = await page('/v1/events?type=identity.user.registered');
    expect(registered.events.map((e) => e.aggregateId)).toEqual([a.user, a.other]);

    const aggregate = await page(`/v1/events?aggregateId=${a.user}`);
    expect(aggregate.events.every((e) => e.aggregateId === a.user)).toBe(true);
    expect(aggregate.events.map((e) => e.eventType)).toContain('identity.user.password_set');

    const bulk = await page('/v1/events?actor=bulk&limit=1000');
    expect(bulk.events).toHaveLength(1000);
    const rest = await page(`/v1/events?actor=bulk&limit=1000&after=${bulk.next}`);
    expect(rest.events[0]?.position).toBe((bulk.events.at(-1)?.position ?? 0) + 1);

    const window = await page(`/v1/events?from=${cheapFrom}&to=${cheapTo}&limit=1000&after=2400`);
    expect(window.events.every((e) => e.actor.id === 'bulk')).toBe(true);
    expect(window.events.every((e) => e.tenantId === a.tenant)).toBe(true);
  });
});

describe('GET /v1/users/:id/timeline', () => {
  it('gives the events about the user: its own, and those naming it', async () => {
    const timeline = await page(`/v1/users/${a.user}/timeline`);
    const expected = (await ca.ctx.store.read({ limit: 10_000 })).filter(
      (e) => e.tenantId === a.tenant && JSON.stringify(e).includes(a.user),
    );
    expect(timeline.events.map((e) => e.position)).toEqual(expected.map((e) => e.position));
    expect(timeline.events.map((e) => e.eventType)).toEqual(
      expect.arrayContaining([
        'identity.user.registered',
        'identity.session.created',
        'identity.user.locked',
        'identity.session.revoked',
      ]),
    );
    for (const event of timeline.events) expect(JSON.stringify(event)).toContain(a.user);
    expect(timeline.events.some((e) => JSON.stringify(e).includes(a.other))).toBe(false);

    const first = await page(`/v1/users/${a.user}/timeline?limit=2`);
    const second = await page(`/v1/users/${a.user}/timeline?limit=100&after=${first.next}`);
    expect([...first.events, ...second.events]).toEqual(timeline.events);
  });
});

describe('GET /v1/events/export', () => {
  it('streams every matching event as NDJSON, the same as the pages', async () => {
    const response = await get('/v1/events/export?actor=bulk');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = response.body
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as RecordedEvent);
    expect(lines).toHaveLength(2500);
    const paged = [
      ...(await page('/v1/events?actor=bulk&limit=1000')).events,
      ...(await page('/v1/events?actor=bulk&limit=1000&after=' + (lines[999]?.position ?? 0)))
        .events,
      ...(await page('/v1/events?actor=bulk&limit=1000&after=' + (lines[1999]?.position ?? 0)))
        .events,
    ];
    expect(lines).toEqual(paged);

    const limited = await get(`/v1/events/export?type=identity.user.registered&limit=1`);
    expect(limited.body.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('tenant scope of the event API', () => {
  it('refuses a key of tenant A naming tenant B, on every route', async () => {
    for (const url of [
      `/v1/events?tenant=${b.tenant}`,
      `/v1/events/export?tenant=${b.tenant}`,
      `/v1/users/${b.user}/timeline?tenant=${b.tenant}`,
    ]) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(403);
      expect(response.json()).toMatchObject({ code: 'forbidden' });
    }
  });

  it("shows a key of tenant A only A's events, and no user of B", async () => {
    const exported = (await get('/v1/events/export')).body.trimEnd().split('\n');
    expect(exported.length).toBeGreaterThan(2500);
    for (const line of exported)
      expect((JSON.parse(line) as RecordedEvent).tenantId).toBe(a.tenant);
    const timeline = await get(`/v1/users/${b.user}/timeline`);
    expect(timeline.statusCode).toBe(404);
    expect(timeline.json()).toMatchObject({ code: 'user_not_found' });
  });

  it('needs the events:read scope and well-formed parameters', async () => {
    for (const url of ['/v1/events', '/v1/events/export', `/v1/users/${a.user}/timeline`]) {
      expect((await get(url, a.unscoped)).statusCode, url).toBe(403);
    }
    expect((await get('/v1/users/not-a-user/timeline')).statusCode).toBe(400);
    expect((await get('/v1/events/export?surprise=1')).statusCode).toBe(400);
    expect((await get('/v1/events/export', 'lk_nope')).statusCode).toBe(401);
  });
});
