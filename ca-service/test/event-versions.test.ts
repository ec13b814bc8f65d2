import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../src/audit/verify-chain.js';
import { eventHash } from '../src/store/event-store.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';
import { offlineSignin, syncAsDevice } from '../../test/support/device-requests.js';

/** Every projection's tables, in a stable order. */
const PROJECTION_TABLES = [
  'users',
  'sessions',
  'grants',
  'devices',
  'certificates',
  'revocation_feed',
  'enrollment_tokens',
  'tenants',
  'tenant_mfa_policies',
  'user_passkeys',
  'api_keys',
  'quarantined_events',
];

/** The version each new one replaces, and how an old producer wrote the same fact. */
const OLD_FORM: Record<
  string,
  { to: number; from: number; payload(p: Record<string, unknown>): Record<string, unknown> }
> = {
  'identity.user.registered': {
    from: 3,
    to: 2,
    payload: ({
      emailVerified: _e,
      homeTenantId: _h,
      registrationSource: _r,
      createdAt: _c,
      ...p
    }) => p,
  },
  'identity.user.logged_in': {
    from: 2,
    to: 1,
    payload: ({ tenantId: _t, at: _a, riskScore: _r, ...p }) => p,
  },
  'identity.session.revoked': {
    from: 2,
    to: 1,
    payload: ({ tenantId: _t, deviceId: _d, at: _a, ...p }) => p,
  },
  'identity.device.bound_for_offline': {
    from: 2,
    to: 1,
    payload: ({ tenantId: _t, at: _a, publicKeyFingerprint, ...p }) => ({
      ...p,
      certificateKid: publicKeyFingerprint,
    }),
  },
};

let ca: TestCa;
const PASSWORD = 'correct horse battery';

async function snapshot(): Promise<Record<string, unknown[]>> {
  const db = ca.ctx.store.db;
  const tables: [string, string[]][] = [];
  for (const table of PROJECTION_TABLES) {
    // Sorted here, not by SQLite's rowid: the same check runs on PostgreSQL.
    const rows = await db.prepare(`SELECT * FROM ${table}`).all();
    tables.push([table, rows.map((row) => JSON.stringify(row)).sort()]);
  }
  return Object.fromEntries(tables);
}

const versions = async () =>
  (await ca.ctx.store.db
    .prepare(
      `SELECT event_type AS type, event_version AS version, COUNT(*) AS n FROM events
       WHERE event_type IN (${Object.keys(OLD_FORM)
         .map(() => '?')
         .join(', ')})
       GROUP BY 1, 2 ORDER BY 1, 2`,
    )
    .all(...Object.keys(OLD_FORM))) as { type: string; version: number; n: number }[];

/**
 * Turns the store into the one the previous release would have written for the same requests:
 * old versions, no stamped envelope fields, and the chain hashed over that.
 */
async function rewriteAsOldStore(): Promise<void> {
  const db = ca.ctx.store.db;
  const update = db.prepare(
    `UPDATE events SET event_version = ?, payload = ?, schema_uri = NULL, source = NULL,
     ingested_at = NULL, retention_class = NULL, data_residency = NULL WHERE position = ?`,
  );
  for await (const event of ca.ctx.store.readAll()) {
    const old = OLD_FORM[event.eventType];
    const current = old && event.eventVersion === old.from;
    await update.run(
      current ? old.to : event.eventVersion,
      JSON.stringify(current ? old.payload(event.payload) : event.payload),
      event.position,
    );
  }
  let previous = '0'.repeat(64);
  for await (const event of ca.ctx.store.readAll()) {
    const { hash: _stored, ...content } = event;
    previous = eventHash(previous, content);
    await db.prepare('UPDATE events SET hash = ? WHERE position = ?').run(previous, event.position);
  }
}

beforeAll(async () => {
  ca = await startTestCa();
  const tenant = await createTenant(ca, 'Versions School');
  const device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenant));
  const userId = await createUser(ca, tenant, 'amina', PASSWORD);
  const login = async () => {
    const response = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant, username: 'amina', password: PASSWORD },
    });
    expect(response.statusCode).toBe(200);
    return response.json<{ refreshToken: string }>();
  };
  const signedOut = await login();
  ca.clock.advance(60_000);
  expect(
    (
      await ca.app.inject({
        method: 'POST',
        url: '/v1/auth/logout',
        payload: { refreshToken: signedOut.refreshToken },
      })
    ).statusCode,
  ).toBe(204);
  ca.clock.advance(60_000);
  await login();
  const [active] = (await ca.ctx.store.db
    .prepare("SELECT session_id FROM sessions WHERE status = 'active'")
    .all()) as { session_id: string }[];
  ca.clock.advance(60_000);
  const revoked = await ca.admin('POST', `/v1/admin/sessions/${active?.session_id}/revoke`);
  expect(revoked.statusCode).toBe(200);
  // An agent of the previous release still pushes logged_in v1.
  const pushed = await syncAsDevice(ca, device, [
    { seq: 1, event: offlineSignin(ca, device, userId) },
  ]);
  expect(pushed.json()).toMatchObject({ accepted: 1 });
  // The device wrote it; the CA stored it.
  expect(
    await ca.ctx.store.read({ eventType: 'identity.user.logged_in', deviceId: device.deviceId }),
  ).toEqual([
    expect.objectContaining({
      source: { service: 'lantern-agent', instance: device.deviceId },
      schemaUri: expect.stringContaining('/v1/schemas/identity.user.logged_in/v1#sha256-'),
    }),
  ]);
});
afterAll(async () => ca.close());

describe('new versions of registered, logged_in, session.revoked and bound_for_offline', () => {
  it('are what the CA writes through its HTTP API (the device pushed a v1)', async () => {
    expect(await versions()).toEqual([
      { type: 'identity.device.bound_for_offline', version: 2, n: 1 },
      { type: 'identity.session.revoked', version: 2, n: 2 },
      { type: 'identity.user.logged_in', version: 1, n: 1 },
      { type: 'identity.user.logged_in', version: 2, n: 2 },
      { type: 'identity.user.registered', version: 3, n: 1 },
    ]);
  });

  it('an old store replays into the same projection state as the new one', async () => {
    const live = await snapshot();
    expect(await ca.ctx.store.rebuildProjections()).toBe(await ca.ctx.store.headPosition());
    expect(await snapshot()).toEqual(live);
    expect((live['sessions'] ?? []).length).toBe(2);

    await rewriteAsOldStore();
    expect((await versions()).map(({ type, version }) => `${type} v${version}`)).toEqual([
      'identity.device.bound_for_offline v1',
      'identity.session.revoked v1',
      'identity.user.logged_in v1',
      'identity.user.registered v2',
    ]);
    expect(await verifyChain(ca.ctx.store)).toMatchObject({ ok: true });
    await ca.ctx.store.rebuildProjections();
    expect(await snapshot()).toEqual(live);
  });

  it('every version stays served at its schema URI and listed', async () => {
    const listed = (await ca.app.inject({ method: 'GET', url: '/v1/schemas' }))
      .json<{ schemas: { eventType: string; version: number }[] }>()
      .schemas.map(({ eventType, version }) => `${eventType} v${version}`);
    for (const [type, { from }] of Object.entries(OLD_FORM)) {
      for (let version = 1; version <= from; version += 1) {
        expect(listed).toContain(`${type} v${version}`);
        const served = await ca.app.inject({
          method: 'GET',
          url: `/v1/schemas/${type}/v${version}`,
        });
        expect(served.statusCode, `${type} v${version}`).toBe(200);
        expect(served.json<{ title: string }>().title).toBe(`${type} v${version}`);
      }
    }
  });
});
