import { ConcurrencyConflictError, SchemaViolationError } from '@lantern/shared';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyChain } from '../src/audit/verify-chain.js';
import { CrlPublisher } from '../src/revocation/crl-publisher.js';
import { Cursor } from '../src/store/cursor.js';
import { RowBatches } from '../src/store/row-batches.js';
import { leaseOf } from '../src/store/lease.js';
import { isUniqueViolation } from '../src/store/unique-violation.js';
import { MIGRATIONS, migrate } from '../src/store/migrations.js';
import { barePostgres } from './support/bare-postgres.js';
import { PostgresDatabase } from '../src/store/postgres/postgres-database.js';
import { databaseKeyRingText } from '../src/tokens/database-key-ring-text.js';
import { KeyRingChangedError } from '../src/tokens/key-ring-store.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import { testDeviceKey } from '../../test/support/device-keys.js';

/**
 * What every store the CA runs on must do the same way: SQLite (the embedded default) and
 * PostgreSQL (several instances, docs/scaling.md). Each PostgreSQL case runs in a schema of its
 * own, dropped at the end.
 */
describe.each(['sqlite', 'postgres'] as const)('store contract on %s', (store) => {
  // One CA for the cases of a store (its set-up is most of their time); each case counts from
  // where the last one left the store and makes its own scratch table.
  let ca: TestCa;
  beforeAll(async () => {
    ca = await startTestCa({ store });
  });
  afterAll(async () => ca.close());
  beforeEach(async () => {
    await ca.ctx.store.db.exec('DROP TABLE IF EXISTS scratch');
  });

  const meta = { actor: { type: 'system' as const, id: 'test' }, correlationId: 'c1' };
  const db = () => ca.ctx.store.db;
  const scratch = () =>
    db().exec(
      'CREATE TABLE scratch (name TEXT PRIMARY KEY, blob BLOB, count INTEGER, ratio REAL, note TEXT)',
    );
  const tenantCreated = (tenantId: string, name: string) => ({
    eventType: 'identity.tenant.created',
    aggregateId: tenantId,
    tenantId,
    ...meta,
    payload: { tenantId, name, slug: name.toLowerCase() },
  });

  it('runs its migrations once: a second run on the migrated store changes nothing', async () => {
    const version = () =>
      db().prepare('SELECT MAX(version) AS version, COUNT(*) AS n FROM schema_migrations').get();
    expect(await version()).toEqual({ version: MIGRATIONS.length, n: MIGRATIONS.length });
    await migrate(db(), new Date(ca.clock.now()).toISOString());
    expect(await version()).toEqual({ version: MIGRATIONS.length, n: MIGRATIONS.length });
  });

  it("keeps concurrent requests out of each other's transactions", async () => {
    await scratch();
    const insert = db().prepare('INSERT INTO scratch (name) VALUES (?)');
    const count = db().prepare('SELECT COUNT(*) AS n FROM scratch');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const failing = db().transaction(async () => {
      await insert.run('uncommitted');
      await held;
      throw new Error('rolled back');
    })();
    // Another request reads and writes while that transaction is open: it neither sees its row
    // nor is rolled back with it.
    const reading = count.get();
    const writing = insert.run('committed');
    release();
    await expect(failing).rejects.toThrow('rolled back');
    expect(await reading).toEqual({ n: 0 });
    await writing;
    expect(await db().prepare('SELECT name FROM scratch').all()).toEqual([{ name: 'committed' }]);
  });

  it('refuses a statement run after its transaction ended, and commits none of the transaction', async () => {
    await scratch();
    const insert = db().prepare('INSERT INTO scratch (name) VALUES (?)');
    let straggler: Promise<unknown> = Promise.resolve();
    await expect(
      db().transaction(async () => {
        await insert.run('first');
        // A branch the callback does not await: it outlives the transaction.
        straggler = (async () => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          await insert.run('late');
        })();
        throw new Error('the transaction fails');
      })(),
    ).rejects.toThrow('the transaction fails');
    await expect(straggler).rejects.toThrow(/after its transaction had ended/);
    expect(await db().prepare('SELECT name FROM scratch').all()).toEqual([]);
  });

  it("keeps a cursor's progress made while its last position was being written", async () => {
    const cursor = new Cursor(db(), ca.clock, 'contract-cursor', 60_000);
    await cursor.reload();
    cursor.advance(10);
    const writing = cursor.flush();
    cursor.advance(20);
    await writing;
    await cursor.flush();
    expect(await Cursor.read(db(), 'contract-cursor')).toBe(20);
  });

  it('refuses a transaction whose nested transactions overlapped', async () => {
    await scratch();
    const insert = db().prepare('INSERT INTO scratch (name) VALUES (?)');
    const unit = (name: string, fails: boolean) =>
      db().transaction(async () => {
        await insert.run(`${name}-1`);
        // The one that succeeds ends first, its second row written inside the other's savepoint.
        await new Promise((resolve) => setTimeout(resolve, fails ? 15 : 5));
        await insert.run(`${name}-2`);
        if (fails) throw new Error(`${name} fails`);
      })();
    await expect(
      db().transaction(async () => {
        await Promise.allSettled([unit('a', false), unit('b', true)]);
      })(),
    ).rejects.toThrow(/overlapped/);
    expect(await db().prepare('SELECT name FROM scratch').all()).toEqual([]);
  });

  it('runs a grouped transaction asked for inside a transaction as part of it', async () => {
    await scratch();
    const insert = db().prepare('INSERT INTO scratch (name) VALUES (?)');
    await expect(
      ca.ctx.store.transaction(async () => {
        await ca.ctx.store.groupedTransaction(() => insert.run('inner'));
        throw new Error('outer fails');
      }),
    ).rejects.toThrow('outer fails');
    expect(await db().prepare('SELECT name FROM scratch').all()).toEqual([]);
  });

  it('gives back bytes, integers, reals and NULL as it was given them', async () => {
    await scratch();
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    await db()
      .prepare('INSERT INTO scratch (name, blob, count, ratio, note) VALUES (?, ?, ?, ?, ?)')
      .run('a', bytes, 2 ** 40, 0.25, null);
    const row = (await db().prepare('SELECT * FROM scratch WHERE name = ?').get('a')) as {
      blob: Buffer;
      count: number;
      ratio: number;
      note: null;
    };
    expect(Buffer.isBuffer(row.blob) && row.blob.equals(bytes)).toBe(true);
    expect(row).toMatchObject({ count: 2 ** 40, ratio: 0.25, note: null });
    expect(
      await db().prepare('SELECT * FROM scratch WHERE name = ?').get('missing'),
    ).toBeUndefined();
  });

  it('counts the rows a statement changed', async () => {
    await scratch();
    const insert = db().prepare('INSERT INTO scratch (name, count) VALUES (?, ?)');
    for (const [name, count] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ] as const)
      await insert.run(name, count);
    expect(await db().prepare('UPDATE scratch SET note = ? WHERE count >= ?').run('x', 2)).toEqual(
      expect.objectContaining({ changes: 2 }),
    );
    expect((await db().prepare('DELETE FROM scratch WHERE name = ?').run('zz')).changes).toBe(0);
    expect(await db().prepare('SELECT name FROM scratch ORDER BY name').all()).toEqual([
      { name: 'a' },
      { name: 'b' },
      { name: 'c' },
    ]);
  });

  it('reads a JSON array parameter with json_each, as the sync and revocation queries do', async () => {
    await scratch();
    const insert = db().prepare('INSERT INTO scratch (name) VALUES (?)');
    for (const name of ['a', 'b', 'c']) await insert.run(name);
    const rows = await db()
      .prepare(
        'SELECT name FROM scratch WHERE name IN (SELECT value FROM json_each(?)) ORDER BY name',
      )
      .all(JSON.stringify(['c', 'a', 'x']));
    expect(rows).toEqual([{ name: 'a' }, { name: 'c' }]);
  });

  it('rolls a failed transaction back whole, and a failed inner one back to its savepoint', async () => {
    await scratch();
    const insert = db().prepare('INSERT INTO scratch (name) VALUES (?)');
    const names = async () =>
      (
        (await db().prepare('SELECT name FROM scratch ORDER BY name').all()) as { name: string }[]
      ).map((row) => row.name);
    await expect(
      (async () =>
        db().transaction(async () => {
          await insert.run('a');
          await insert.run('a');
        })())(),
    ).rejects.toThrow(/unique/i);
    expect(await names()).toEqual([]);
    expect(db().inTransaction).toBe(false);

    await db().transaction(async () => {
      await insert.run('outer');
      expect(db().inTransaction).toBe(true);
      await expect(
        (async () =>
          db().transaction(async () => {
            await insert.run('inner');
            throw new Error('inner unit fails');
          })())(),
      ).rejects.toThrow('inner unit fails');
      await insert.run('after');
    })();
    expect(await names()).toEqual(['after', 'outer']);
  });

  it('writes rows in batches that later statements see; a batch that fails fails its transaction, or its unit alone', async () => {
    await scratch();
    const batches = () => new RowBatches(db(), 'INSERT INTO scratch (name, count)');
    const names = async () =>
      (
        (await db().prepare('SELECT name FROM scratch ORDER BY name').all()) as { name: string }[]
      ).map((row) => row.name);
    const throwsDuplicate = async (work: () => unknown) => {
      let thrown: unknown;
      try {
        await work();
      } catch (error) {
        thrown = error;
      }
      expect(thrown !== undefined && isUniqueViolation(thrown), String(thrown)).toBe(true);
    };
    // Three statements (100 rows each at most); on PostgreSQL the first two are sent while the
    // rest are built, and the count after them waits for all three.
    await db().transaction(async () => {
      const rows = batches();
      for (let i = 0; i < 250; i += 1) rows.add([`n${String(i).padStart(3, '0')}`, i]);
      await rows.flush();
      expect(await db().prepare('SELECT COUNT(*) AS n FROM scratch').get()).toEqual({ n: 250 });
    })();
    // A full batch whose last row is already there, sent once the next row came: the next
    // statement that waits, or the flush, throws the batch's own error; nothing of it stays.
    const failingBatch = (then: 'flush' | 'read') => async () => {
      const rows = batches();
      for (let i = 0; i < 99; i += 1) rows.add([`fresh${i}`, i]);
      rows.add(['n000', 0]);
      rows.add(['tail', 0]);
      if (then === 'read') await db().prepare('SELECT COUNT(*) AS n FROM scratch').get();
      else {
        await rows.flush();
        flushedCleanly = true;
      }
    };
    let flushedCleanly = false;
    await throwsDuplicate(() => db().transaction(failingBatch('read'))());
    await throwsDuplicate(() => db().transaction(failingBatch('flush'))());
    // The flush throws at the latest, never a statement or commit after it: someone else's.
    expect(flushedCleanly).toBe(false);
    expect(await names()).toHaveLength(250);
    expect(db().inTransaction).toBe(false);
    // In a unit of a larger transaction (a savepoint, as group commit runs enrollments), only
    // that unit is undone; the transaction goes on and commits the rest.
    await db().transaction(async () => {
      await db().prepare('INSERT INTO scratch (name) VALUES (?)').run('before');
      await throwsDuplicate(() => db().transaction(failingBatch('flush'))());
      await db().prepare('INSERT INTO scratch (name) VALUES (?)').run('after');
    })();
    expect(await names()).toHaveLength(252);
    expect(await names()).toEqual(expect.arrayContaining(['after', 'before']));
    expect(await names()).not.toContain('fresh0');
    // Outside a transaction the last batch is written, or refused, by `flush`; a full batch is
    // sent only inside one (a sent write outside a transaction is refused).
    const solo = batches();
    solo.add(['solo', 1]);
    await solo.flush();
    expect(await names()).toContain('solo');
    await expect(
      (async () => {
        const outside = batches();
        for (let i = 0; i < 100; i += 1) outside.add([`outside${i}`, i]);
        outside.add(['next', 0]);
      })(),
    ).rejects.toThrow();
    expect(db().inTransaction).toBe(false);
    expect(await names()).not.toContain('outside0');
    await throwsDuplicate(async () => {
      const again = batches();
      again.add(['solo', 2]);
      await again.flush();
    });
  });

  it('appends one unbroken hash chain, and verifies it', async () => {
    for (let i = 0; i < 5; i += 1) {
      await ca.ctx.store.append([tenantCreated(ca.ctx.ids.next('ten'), `T${i}`)]);
    }
    const verdict = await verifyChain(ca.ctx.store);
    expect(verdict).toMatchObject({ ok: true, checked: await ca.eventCount() });
  });

  it('refuses a stale expected version and an invalid payload, writing nothing', async () => {
    const tenantId = ca.ctx.ids.next('ten');
    await ca.ctx.store.append([{ ...tenantCreated(tenantId, 'A'), expectedVersion: 0 }]);
    const before = await ca.eventCount();
    const tenantsBefore = await db().prepare('SELECT COUNT(*) AS n FROM tenants').get();
    await expect(
      (async () =>
        ca.ctx.store.append([
          tenantCreated(ca.ctx.ids.next('ten'), 'B'),
          { ...tenantCreated(tenantId, 'A again'), expectedVersion: 0 },
        ]))(),
    ).rejects.toThrow(ConcurrencyConflictError);
    await expect(
      (async () =>
        ca.ctx.store.append([
          tenantCreated(ca.ctx.ids.next('ten'), 'C'),
          { ...tenantCreated(ca.ctx.ids.next('ten'), 'D'), payload: { tenantId } },
        ]))(),
    ).rejects.toThrow(SchemaViolationError);
    expect(await ca.eventCount()).toBe(before);
    expect(await db().prepare('SELECT COUNT(*) AS n FROM tenants').get()).toEqual(tenantsBefore);
  });

  it('commits a group of units together, without the one that failed', async () => {
    const before = await ca.eventCount();
    const units = ['G1', 'G2', 'G3'].map((name) =>
      ca.ctx.store.groupedTransaction(async () => {
        const [event] = await ca.ctx.store.append([tenantCreated(ca.ctx.ids.next('ten'), name)]);
        if (name === 'G2') throw new Error('this unit fails');
        return event;
      }),
    );
    const settled = await Promise.allSettled(units);
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await ca.eventCount()).toBe(before + 2);
    expect((await verifyChain(ca.ctx.store)).ok).toBe(true);
  });

  // Projections write behind (on PostgreSQL sent without waiting): a failed write must still fail
  // its own append, and nothing after it.
  it('fails an append whose projection write fails, alone and whole, in a group or not', async () => {
    const tenantId = ca.ctx.ids.next('ten');
    await ca.ctx.store.append([tenantCreated(tenantId, 'Projected')]);
    const before = await ca.eventCount();
    const tenants = () => db().prepare('SELECT COUNT(*) AS n FROM tenants').get();
    const tenantsBefore = await tenants();
    let failure: unknown;
    try {
      await ca.ctx.store.append([
        tenantCreated(ca.ctx.ids.next('ten'), 'Fresh'),
        tenantCreated(tenantId, 'Projected again'),
      ]);
    } catch (error) {
      failure = error;
    }
    expect(isUniqueViolation(failure)).toBe(true);
    // A stale version later in the same append is the refusal, on both engines: every check
    // runs before the first projection writes.
    await expect(
      (async () =>
        ca.ctx.store.append([
          tenantCreated(tenantId, 'Projected again'),
          { ...tenantCreated(ca.ctx.ids.next('ten'), 'Late'), expectedVersion: 3 },
        ]))(),
    ).rejects.toThrow(ConcurrencyConflictError);
    expect(await ca.eventCount()).toBe(before);
    expect(await tenants()).toEqual(tenantsBefore);

    const units = ['P1', 'P2', 'P3'].map((name) =>
      ca.ctx.store.groupedTransaction(() =>
        ca.ctx.store.append([
          tenantCreated(name === 'P2' ? tenantId : ca.ctx.ids.next('ten'), name),
        ]),
      ),
    );
    const settled = await Promise.allSettled(units);
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await ca.eventCount()).toBe(before + 2);
    expect((await verifyChain(ca.ctx.store)).ok).toBe(true);
  });

  it('answers a value the store cannot hold (NUL in text, past 64 bits) with a 4xx', async () => {
    const tenant = await createTenant(ca, 'Odd Input School');
    const login = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant, username: 'am\u0000ina', password: 'a long enough password' },
    });
    expect(login.statusCode).toBeGreaterThanOrEqual(400);
    expect(login.statusCode).toBeLessThan(500);
    for (const url of ['/v1/events?actor=%00', '/v1/events?after=1e20']) {
      const answer = await ca.admin('GET', url);
      expect(answer.statusCode, `${url}: ${answer.body}`).toBeLessThan(500);
    }
  });

  it('replays its events into exactly the projections it keeps live', async () => {
    const tenant = await createTenant(ca, 'Replay School');
    await createUser(ca, tenant, 'amina', 'a long enough password');
    const token = await createEnrollmentToken(ca, tenant);
    const enrolled = await ca.app.inject({
      method: 'POST',
      url: '/v1/devices/enroll',
      payload: { enrollmentToken: token, csr: await testDeviceKey().csr() },
    });
    expect(enrolled.statusCode).toBe(201);
    const dump = async () => {
      const tables: Record<string, unknown[]> = {};
      for (const table of ['tenants', 'users', 'enrollment_tokens', 'devices', 'certificates']) {
        tables[table] = await db().prepare(`SELECT * FROM ${table} ORDER BY 1`).all();
      }
      return tables;
    };
    const live = await dump();
    await ca.ctx.store.rebuildProjections();
    expect(await dump()).toEqual(live);
  });
});

describe('several CA instances on one PostgreSQL database', () => {
  let ca: TestCa;
  beforeEach(async () => {
    ca = await startTestCa({ store: 'postgres' });
  });
  afterEach(async () => ca.close());

  it('keeps one hash chain while two instances append in turn', async () => {
    const twin = await ca.twin();
    const tenant = await createTenant(ca, 'Shared School');
    for (const [i, username] of ['amina', 'bilal', 'chen', 'dara', 'eli', 'femi'].entries()) {
      const app = i % 2 === 0 ? ca.app : twin.app;
      const response = await app.inject({
        method: 'POST',
        url: '/v1/admin/users',
        headers: { authorization: `Bearer ${ca.adminKey}` },
        payload: { tenant, username, password: 'a long enough password', role: 'learner' },
      });
      expect(response.statusCode, response.body).toBe(201);
    }
    expect(await verifyChain(twin.ctx.store)).toMatchObject({
      ok: true,
      checked: await ca.eventCount(),
    });
  });

  it("reads outside a transaction without waiting for another instance's writer", async () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    const writer = await barePostgres(db.url);
    try {
      // Another instance in the middle of a write transaction: it holds the writer lock.
      await writer.query(
        'BEGIN; SELECT pg_advisory_xact_lock(1279348308, hashtext(current_schema()))',
      );
      const started = Date.now();
      expect(await verifyChain(ca.ctx.store)).toMatchObject({ ok: true });
      expect(await db.prepare('SELECT COUNT(*) AS n FROM devices').get()).toEqual({ n: 0 });
      // Waiting for the lock would take its timeout (30 s) and then fail.
      expect(Date.now() - started).toBeLessThan(5_000);
      await writer.query('ROLLBACK');
    } finally {
      await writer.close();
    }
  });

  it("consumes a proof's id without waiting for another instance's writer, and appends nothing so", async () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    const consume = (jti: string) =>
      db.transactionWithoutTurn(
        async () =>
          (
            await db
              .prepare(
                'INSERT INTO proof_jtis (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING',
              )
              .run(jti, 1)
          ).changes,
      )();
    const writer = await barePostgres(db.url);
    try {
      await writer.query(
        'BEGIN; SELECT pg_advisory_xact_lock(1279348308, hashtext(current_schema()))',
      );
      const started = Date.now();
      expect(await consume('jti-1')).toBe(1);
      expect(await consume('jti-1')).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      await writer.query('ROLLBACK');
    } finally {
      await writer.close();
    }
    const before = await ca.eventCount();
    const tenantId = ca.ctx.ids.next('ten');
    const append = () =>
      ca.ctx.store.append([
        {
          eventType: 'identity.tenant.created',
          aggregateId: tenantId,
          tenantId,
          actor: { type: 'system', id: 'test' },
          correlationId: 'c1',
          payload: { tenantId, name: 'Unturned', slug: 'unturned' },
        },
      ]);
    await expect((async () => db.transactionWithoutTurn(append)())()).rejects.toThrow(TypeError);
    expect(await ca.eventCount()).toBe(before);
  });

  it('consumes an enrollment token once, whichever instance each device reaches', async () => {
    const twin = await ca.twin();
    const token = await createEnrollmentToken(ca, await createTenant(ca, 'Once School'));
    const enroll = async (app: typeof ca.app) =>
      app.inject({
        method: 'POST',
        url: '/v1/devices/enroll',
        payload: { enrollmentToken: token, csr: await testDeviceKey().csr() },
      });
    const answers = await Promise.all([enroll(ca.app), enroll(twin.app)]);
    expect(answers.map((answer) => answer.statusCode).sort()).toEqual([201, 409]);
    expect(await ca.ctx.store.db.prepare('SELECT COUNT(*) AS n FROM devices').get()).toEqual({
      n: 1,
    });
  });

  it('rotates a refresh token once: its reuse through the other instance ends the family', async () => {
    const twin = await ca.twin();
    const tenant = await createTenant(ca, 'Rotate School');
    await createUser(ca, tenant, 'amina', 'a long enough password');
    const login = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant, username: 'amina', password: 'a long enough password' },
    });
    const { refreshToken } = login.json() as { refreshToken: string };
    const refresh = (app: typeof ca.app, token: string) =>
      app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: token } });
    const rotated = await refresh(ca.app, refreshToken);
    expect(rotated.statusCode).toBe(200);
    const reuse = await refresh(twin.app, refreshToken);
    expect(reuse.json()).toMatchObject({ code: 'refresh_token_reused' });
    const next = (rotated.json() as { refreshToken: string }).refreshToken;
    expect((await refresh(ca.app, next)).json()).toMatchObject({ code: 'refresh_token_invalid' });
  });

  it('numbers the CRLs of two instances regenerating at once without a collision', async () => {
    const twin = await ca.twin();
    const crlNumbers = async () =>
      (
        (await ca.ctx.store.db
          .prepare('SELECT crl_number FROM crls ORDER BY crl_number')
          .all()) as {
          crl_number: number;
        }[]
      ).map((row) => row.crl_number);
    await Promise.all([
      new CrlPublisher(ca.ctx).regenerate(),
      new CrlPublisher(twin.ctx).regenerate(),
    ]);
    const numbers = await crlNumbers();
    expect(numbers.length).toBeGreaterThanOrEqual(2);
    expect(new Set(numbers).size).toBe(numbers.length);
    const crl = await ca.app.inject({ method: 'GET', url: '/v1/crl' });
    expect(crl.statusCode).toBe(200);
  });

  it('signs with one token key ring: a rotation on one instance is taken up by the other', async () => {
    const twin = await ca.twin();
    expect(twin.ctx.tokenKeys.jwks()).toEqual(ca.ctx.tokenKeys.jwks());
    const rotated = (await twin.ctx.tokenKeys.rotate()).rotation;
    expect(rotated).not.toBeNull();
    expect(await ca.ctx.tokenKeys.refresh()).toBe(true);
    expect(await ca.ctx.tokenKeys.refresh()).toBe(false);
    expect(ca.ctx.tokenKeys.activeKid).toBe(rotated?.activeKid);
    expect(ca.ctx.tokenKeys.jwks()).toEqual(twin.ctx.tokenKeys.jwks());

    // Both instances' scheduled rotation comes due: one rotates, the other takes that up.
    ca.clock.advance(31 * 86_400_000);
    expect((await ca.ctx.tokenKeys.scheduledRotation()).rotation).not.toBeNull();
    expect((await twin.ctx.tokenKeys.scheduledRotation()).rotation).toBeNull();
    expect(twin.ctx.tokenKeys.jwks()).toEqual(ca.ctx.tokenKeys.jwks());
    expect(twin.ctx.tokenKeys.activeKid).toBe(ca.ctx.tokenKeys.activeKid);
  });

  it('revokes a token key on one instance; the other drops it at its next refresh', async () => {
    const twin = await ca.twin();
    const compromised = ca.ctx.tokenKeys.activeKid;
    await twin.ctx.tokenKeys.revoke(compromised);
    expect(await ca.ctx.tokenKeys.refresh()).toBe(true);
    expect(ca.ctx.tokenKeys.jwks().keys.map((key) => key.kid)).not.toContain(compromised);
    expect(ca.ctx.tokenKeys.activeKid).toBe(twin.ctx.tokenKeys.activeKid);
    expect(ca.ctx.tokenKeys.jwks()).toEqual(twin.ctx.tokenKeys.jwks());
  });

  it('refuses a key ring save based on a version another instance replaced', async () => {
    const db = ca.ctx.store.db;
    const none = { read: () => null, write: () => {} };
    const first = databaseKeyRingText(db, none);
    const second = databaseKeyRingText(db, none);
    const base = await first.read();
    expect(await second.read()).toBe(base);
    await first.write('{"from":"first"}');
    expect(await second.changed()).toBe(true);
    await expect((async () => second.write('{"from":"second"}'))()).rejects.toThrow(
      KeyRingChangedError,
    );
    expect(await second.read()).toBe('{"from":"first"}');
    await second.write('{"from":"second"}');
    expect(await first.changed()).toBe(true);
  });

  it('lets one instance hold a lease; the other takes it once the holder is gone', async () => {
    const other = new PostgresDatabase(
      (ca.ctx.store.db as PostgresDatabase).url,
      'lantern-ca contract test',
    );
    try {
      const mine = leaseOf(ca.ctx.store.db, 'relay');
      const theirs = leaseOf(other, 'relay');
      expect(await mine.tryAcquire()).toBe(true);
      expect(await mine.tryAcquire()).toBe(true);
      expect(await theirs.tryAcquire()).toBe(false);
      await mine.release();
      expect(await theirs.tryAcquire()).toBe(true);
      expect(await mine.tryAcquire()).toBe(false);
      await other.close();
      expect(await mine.tryAcquire()).toBe(true);
      await mine.release();
    } finally {
      await other.close();
    }
  });

  it('never reports as committed a transaction PostgreSQL rolled back', async () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    await db.exec(
      'DROP TABLE IF EXISTS scratch; CREATE TABLE scratch (n INTEGER PRIMARY KEY, note TEXT)',
    );
    const insert = db.prepare('INSERT INTO scratch (n) VALUES (?)');
    await insert.run(1);
    // A failed statement caught inside the transaction: PostgreSQL has aborted it, and would
    // answer the COMMIT with a ROLLBACK and no error.
    await expect(
      (async () =>
        db.transaction(async () => {
          await insert.run(2);
          await expect((async () => insert.run(1))()).rejects.toThrow(/duplicate|unique/i);
        })())(),
    ).rejects.toThrow(/rolled it back/);
    expect(db.inTransaction).toBe(false);
    // A sent write the client cannot even encode leaves the server's transaction unaborted:
    // the commit that reports the failure must still undo the rest.
    const noted = db.prepare('INSERT INTO scratch (n, note) VALUES (?, ?)');
    await expect(
      (async () =>
        db.transaction(async () => {
          await insert.run(3);
          noted.send?.(4, { big: 1n });
        })())(),
    ).rejects.toThrow(/serialize|BigInt/i);
    expect(await db.prepare('SELECT n FROM scratch ORDER BY n').all()).toEqual([{ n: 1 }]);
  });

  it('fails a transaction whose connection was lost midway, and commits none of it', async () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    // A bare connection: it must not wait for the writer lock the transaction holds.
    const other = await barePostgres(db.url);
    try {
      await db.exec('DROP TABLE IF EXISTS scratch; CREATE TABLE scratch (n INTEGER PRIMARY KEY)');
      const insert = db.prepare('INSERT INTO scratch (n) VALUES (?)');
      await expect(
        (async () =>
          db.transaction(async () => {
            await insert.run(1);
            const { pid } = (await db.prepare('SELECT pg_backend_pid() AS pid').get()) as {
              pid: number;
            };
            await other.query('SELECT pg_terminate_backend($1)', [pid]);
            await insert.run(2);
            await insert.run(3);
          })())(),
      ).rejects.toThrow(/lost|terminat/i);
      expect(db.inTransaction).toBe(false);
      expect(await db.prepare('SELECT n FROM scratch ORDER BY n').all()).toEqual([]);
      await insert.run(4);
      expect(await db.prepare('SELECT n FROM scratch ORDER BY n').all()).toEqual([{ n: 4 }]);
    } finally {
      await other.close();
    }
  });

  it('keeps its timeouts when the URL names options of its own', async () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    expect(new URL(db.url).searchParams.get('options')).toContain('search_path');
    expect(await db.prepare('SHOW lock_timeout').get()).toEqual({ lock_timeout: '30s' });
    expect(await db.prepare('SHOW idle_in_transaction_session_timeout').get()).toEqual({
      idle_in_transaction_session_timeout: '2min',
    });
  });

  it("serves reads while its writers wait for another instance's writer turn", async () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    const writer = await barePostgres(db.url);
    try {
      await writer.query(
        'BEGIN; SELECT pg_advisory_xact_lock(1279348308, hashtext(current_schema()))',
      );
      // More waiting writers than the instance has connections.
      const waiting = Array.from({ length: 12 }, () =>
        db.transaction(() => db.prepare('SELECT 1 AS one').get())(),
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      expect(await db.prepare('SELECT 2 AS two').get()).toEqual({ two: 2 });
      expect(Date.now() - started).toBeLessThan(2_000);
      await writer.query('ROLLBACK');
      await Promise.all(waiting);
    } finally {
      await writer.close();
    }
  });

  it('takes a lease once when asked for it twice at the same time', async () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    const other = new PostgresDatabase(db.url, 'lantern-ca contract test');
    try {
      const mine = leaseOf(db, 'twice');
      expect(await Promise.all([mine.tryAcquire(), mine.tryAcquire()])).toEqual([true, true]);
      await mine.release();
      expect(await leaseOf(other, 'twice').tryAcquire()).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('knows a lease is lost when the session that held it ends, and another instance takes it', async () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    const other = new PostgresDatabase(db.url, 'lantern-ca contract test');
    try {
      const mine = leaseOf(db, 'relay');
      const theirs = leaseOf(other, 'relay');
      expect(await mine.tryAcquire()).toBe(true);
      // Every session of this instance ends, the lease's among them.
      const { name } = (await db
        .prepare(
          'SELECT application_name AS name FROM pg_stat_activity WHERE pid = pg_backend_pid()',
        )
        .get()) as { name: string };
      await other
        .prepare(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ?',
        )
        .all(name);
      await new Promise((resolve) => setTimeout(resolve, 200));
      // The first statement on the ended session fails; the next one reconnects.
      try {
        await db.prepare('SELECT 1 AS one').get();
      } catch {
        // expected: the connection was terminated under it
      }
      expect(await db.prepare('SELECT 1 AS one').get()).toEqual({ one: 1 });
      expect(mine.held()).toBe(false);
      expect(await theirs.tryAcquire()).toBe(true);
      expect(await mine.tryAcquire()).toBe(false);
    } finally {
      await other.close();
    }
  });
});
