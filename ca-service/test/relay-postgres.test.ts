import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDENTITY_STREAM } from '../src/outbox/identity-streams.js';
import { OutboxRelay } from '../src/outbox/relay.js';
import { barePostgres } from './support/bare-postgres.js';
import type { PostgresDatabase } from '../src/store/postgres/postgres-database.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import type { PrivateNats } from '../../test/support/nats.js';
import { startNats } from '../../test/support/nats.js';
import { appendCheapEvents, storeEventIds } from './support/cheap-events.js';
import { streamMessages, until } from './support/jetstream.js';

let nats: PrivateNats;
let ca: TestCa;

beforeAll(async () => {
  nats = await startNats();
  ca = await startTestCa({ store: 'postgres' });
});
afterAll(async () => {
  await ca?.close();
  await nats?.stop();
});

describe('outbox relays of two CA instances on one PostgreSQL database', () => {
  it('publishes with one at a time; when the leader loses its session, one carries on from the cursor, nothing lost or doubled', async () => {
    const twin = await ca.twin();
    const relayOf = (ctx: typeof ca.ctx) =>
      new OutboxRelay({
        store: ctx.store,
        clock: ca.clock,
        logger: ctx.logger,
        servers: [nats.url],
        retry: { initialMs: 50, maxMs: 500 },
        publishTimeoutMs: 2_000,
        pollMs: 25,
        cursorFlushMs: 25,
        leasePollMs: 100,
      });
    const first = relayOf(ca.ctx);
    first.start();
    await until(async () => (await first.status()).connected);
    const second = relayOf(twin.ctx);
    second.start();
    const tenantId = await createTenant(ca, 'Relay Lease School');
    try {
      await appendCheapEvents(ca.ctx, tenantId, 200);
      await until(async () => (await first.status()).depth === 0);
      expect((await second.status()).published).toBe(0);

      // The first relay's database session, the one holding the lease, ends under it (a
      // failover, a network cut).
      const admin = await barePostgres((ca.ctx.store.db as PostgresDatabase).url);
      const holders = await admin.query(
        `SELECT pg_terminate_backend(pid) AS ended FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 1
         AND objid = (hashtext(current_schema() || ':' || $1)::bigint & 4294967295)::oid`,
        ['lease:relay:identity'],
      );
      expect(holders).toEqual([{ ended: true }]);
      await admin.close();
      await appendCheapEvents(twin.ctx, tenantId, 200);
      // Whether the relay learns it from its next statement's failure or from a reconnect, it
      // stands by; then whichever relay asks first takes the lease and carries on from the
      // stored cursor.
      await until(
        () => ca.logLines.some((line) => /relay\.(lease_lost|store_unavailable)/.test(line)),
        30_000,
      );

      const ids = await storeEventIds(twin.ctx);
      await until(
        async () => (await streamMessages(nats.url, IDENTITY_STREAM)).length >= ids.length,
        30_000,
      );
      const published = (await streamMessages(nats.url, IDENTITY_STREAM)).map((message) =>
        message.headers?.get('Nats-Msg-Id'),
      );
      expect(published.length).toBe(new Set(published).size);
      expect(new Set(published)).toEqual(new Set(ids));
      expect((await first.status()).running).toBe(true);
      expect((await second.status()).running).toBe(true);
    } finally {
      await first.stop();
      await second.stop();
    }
  }, 120_000);
});
