import { ConcurrencyConflictError, SchemaViolationError } from '@lantern/shared';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyChain } from '../src/audit/verify-chain.js';
import { CrlPublisher } from '../src/revocation/crl-publisher.js';
import { RowBatches } from '../src/store/row-batches.js';
import { leaseOf } from '../src/store/lease.js';
import { isUniqueViolation } from '../src/store/unique-violation.js';
import { MIGRATIONS, migrate } from '../src/store/migrations.js';
import { PostgresConnection } from '../src/store/postgres/postgres-connection.js';
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
  beforeEach(() => {
    ca.ctx.store.db.exec('DROP TABLE IF EXISTS scratch');
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

  it('runs its migrations once: a second run on the migrated store changes nothing', () => {
    const version = () =>
      db().prepare('SELECT MAX(version) AS version, COUNT(*) AS n FROM schema_migrations').get();
    expect(version()).toEqual({ version: MIGRATIONS.length, n: MIGRATIONS.length });
    migrate(db(), new Date(ca.clock.now()).toISOString());
    expect(version()).toEqual({ version: MIGRATIONS.length, n: MIGRATIONS.length });
  });

  it('gives back bytes, integers, reals and NULL as it was given them', () => {
    scratch();
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    db()
      .prepare('INSERT INTO scratch (name, blob, count, ratio, note) VALUES (?, ?, ?, ?, ?)')
      .run('a', bytes, 2 ** 40, 0.25, null);
    const row = db().prepare('SELECT * FROM scratch WHERE name = ?').get('a') as {
      blob: Buffer;
      count: number;
      ratio: number;
      note: null;
    };
    expect(Buffer.isBuffer(row.blob) && row.blob.equals(bytes)).toBe(true);
    expect(row).toMatchObject({ count: 2 ** 40, ratio: 0.25, note: null });
    expect(db().prepare('SELECT * FROM scratch WHERE name = ?').get('missing')).toBeUndefined();
  });

  it('counts the rows a statement changed', () => {
    scratch();
    const insert = db().prepare('INSERT INTO scratch (name, count) VALUES (?, ?)');
    for (const [name, count] of [
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ] as const)
      insert.run(name, count);
    expect(db().prepare('UPDATE scratch SET note = ? WHERE count >= ?').run('x', 2)).toEqual(
      expect.objectContaining({ changes: 2 }),
    );
    expect(db().prepare('DELETE FROM scratch WHERE name = ?').run('zz').changes).toBe(0);
    expect([...db().prepare('SELECT name FROM scratch ORDER BY name').iterate()]).toEqual([
      { name: 'a' },
      { name: 'b' },
      { name: 'c' },
    ]);
  });

  it('reads a JSON array parameter with json_each, as the sync and revocation queries do', () => {
    scratch();
    const insert = db().prepare('INSERT INTO scratch (name) VALUES (?)');
    for (const name of ['a', 'b', 'c']) insert.run(name);
    const rows = db()
      .prepare(
        'SELECT name FROM scratch WHERE name IN (SELECT value FROM json_each(?)) ORDER BY name',
      )
      .all(JSON.stringify(['c', 'a', 'x']));
    expect(rows).toEqual([{ name: 'a' }, { name: 'c' }]);
  });

  it('rolls a failed transaction back whole, and a failed inner one back to its savepoint', () => {
    scratch();
    const insert = db().prepare('INSERT INTO scratch (name) VALUES (?)');
    const names = () =>
      (db().prepare('SELECT name FROM scratch ORDER BY name').all() as { name: string }[]).map(
        (row) => row.name,
      );
    expect(() =>
      db().transaction(() => {
        insert.run('a');
        insert.run('a');
      })(),
    ).toThrow(/unique/i);
    expect(names()).toEqual([]);
    expect(db().inTransaction).toBe(false);

    db().transaction(() => {
      insert.run('outer');
      expect(db().inTransaction).toBe(true);
      expect(() =>
        db().transaction(() => {
          insert.run('inner');
          throw new Error('inner unit fails');
        })(),
      ).toThrow('inner unit fails');
      insert.run('after');
    })();
    expect(names()).toEqual(['after', 'outer']);
  });

  it('writes rows in batches that later statements see; a batch that fails fails its transaction, or its unit alone', () => {
    scratch();
    const batches = () => new RowBatches(db(), 'INSERT INTO scratch (name, count)');
    const names = () =>
      (db().prepare('SELECT name FROM scratch ORDER BY name').all() as { name: string }[]).map(
        (row) => row.name,
      );
    const throwsDuplicate = (work: () => unknown) => {
      let thrown: unknown;
      try {
        work();
      } catch (error) {
        thrown = error;
      }
      expect(thrown !== undefined && isUniqueViolation(thrown), String(thrown)).toBe(true);
    };
    // Three statements (100 rows each at most); on PostgreSQL the first two are sent while the
    // rest are built, and the count after them waits for all three.
    db().transaction(() => {
      const rows = batches();
      for (let i = 0; i < 250; i += 1) rows.add([`n${String(i).padStart(3, '0')}`, i]);
      rows.flush();
      expect(db().prepare('SELECT COUNT(*) AS n FROM scratch').get()).toEqual({ n: 250 });
    })();
    // A full batch whose last row is already there, sent once the next row came: the next
    // statement that waits, or the flush, throws the batch's own error; nothing of it stays.
    const failingBatch = (then: 'flush' | 'read') => () => {
      const rows = batches();
      for (let i = 0; i < 99; i += 1) rows.add([`fresh${i}`, i]);
      rows.add(['n000', 0]);
      rows.add(['tail', 0]);
      if (then === 'read') db().prepare('SELECT COUNT(*) AS n FROM scratch').get();
      else {
        rows.flush();
        flushedCleanly = true;
      }
    };
    let flushedCleanly = false;
    throwsDuplicate(() => db().transaction(failingBatch('read'))());
    throwsDuplicate(() => db().transaction(failingBatch('flush'))());
    // The flush throws at the latest, never a statement or commit after it: someone else's.
    expect(flushedCleanly).toBe(false);
    expect(names()).toHaveLength(250);
    expect(db().inTransaction).toBe(false);
    // In a unit of a larger transaction (a savepoint, as group commit runs enrollments), only
    // that unit is undone; the transaction goes on and commits the rest.
    db().transaction(() => {
      db().prepare('INSERT INTO scratch (name) VALUES (?)').run('before');
      throwsDuplicate(() => db().transaction(failingBatch('flush'))());
      db().prepare('INSERT INTO scratch (name) VALUES (?)').run('after');
    })();
    expect(names()).toHaveLength(252);
    expect(names()).toEqual(expect.arrayContaining(['after', 'before']));
    expect(names()).not.toContain('fresh0');
    // Outside a transaction each batch is written, or refused, before the call that writes it
    // returns: the full batch by the `add` that follows it, the last one by `flush`.
    const solo = batches();
    solo.add(['solo', 1]);
    solo.flush();
    expect(names()).toContain('solo');
    const outside = batches();
    for (let i = 0; i < 99; i += 1) outside.add([`outside${i}`, i]);
    outside.add(['solo', 2]);
    throwsDuplicate(() => outside.add(['next', 0]));
    expect(db().inTransaction).toBe(false);
    expect(names()).not.toContain('outside0');
    throwsDuplicate(() => {
      const again = batches();
      again.add(['solo', 2]);
      again.flush();
    });
  });

  it('appends one unbroken hash chain, and verifies it', () => {
    for (let i = 0; i < 5; i += 1) {
      ca.ctx.store.append([tenantCreated(ca.ctx.ids.next('ten'), `T${i}`)]);
    }
    const verdict = verifyChain(ca.ctx.store);
    expect(verdict).toMatchObject({ ok: true, checked: ca.eventCount() });
  });

  it('refuses a stale expected version and an invalid payload, writing nothing', () => {
    const tenantId = ca.ctx.ids.next('ten');
    ca.ctx.store.append([{ ...tenantCreated(tenantId, 'A'), expectedVersion: 0 }]);
    const before = ca.eventCount();
    const tenantsBefore = db().prepare('SELECT COUNT(*) AS n FROM tenants').get();
    expect(() =>
      ca.ctx.store.append([
        tenantCreated(ca.ctx.ids.next('ten'), 'B'),
        { ...tenantCreated(tenantId, 'A again'), expectedVersion: 0 },
      ]),
    ).toThrow(ConcurrencyConflictError);
    expect(() =>
      ca.ctx.store.append([
        tenantCreated(ca.ctx.ids.next('ten'), 'C'),
        { ...tenantCreated(ca.ctx.ids.next('ten'), 'D'), payload: { tenantId } },
      ]),
    ).toThrow(SchemaViolationError);
    expect(ca.eventCount()).toBe(before);
    expect(db().prepare('SELECT COUNT(*) AS n FROM tenants').get()).toEqual(tenantsBefore);
  });

  it('commits a group of units together, without the one that failed', async () => {
    const before = ca.eventCount();
    const units = ['G1', 'G2', 'G3'].map((name) =>
      ca.ctx.store.groupedTransaction(() => {
        const [event] = ca.ctx.store.append([tenantCreated(ca.ctx.ids.next('ten'), name)]);
        if (name === 'G2') throw new Error('this unit fails');
        return event;
      }),
    );
    const settled = await Promise.allSettled(units);
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(ca.eventCount()).toBe(before + 2);
    expect(verifyChain(ca.ctx.store).ok).toBe(true);
  });

  // Projections write behind (on PostgreSQL sent without waiting): a failed write must still fail
  // its own append, and nothing after it.
  it('fails an append whose projection write fails, alone and whole, in a group or not', async () => {
    const tenantId = ca.ctx.ids.next('ten');
    ca.ctx.store.append([tenantCreated(tenantId, 'Projected')]);
    const before = ca.eventCount();
    const tenants = () => db().prepare('SELECT COUNT(*) AS n FROM tenants').get();
    const tenantsBefore = tenants();
    let failure: unknown;
    try {
      ca.ctx.store.append([
        tenantCreated(ca.ctx.ids.next('ten'), 'Fresh'),
        tenantCreated(tenantId, 'Projected again'),
      ]);
    } catch (error) {
      failure = error;
    }
    expect(isUniqueViolation(failure)).toBe(true);
    // A stale version later in the same append is the refusal, on both engines: every check
    // runs before the first projection writes.
    expect(() =>
      ca.ctx.store.append([
        tenantCreated(tenantId, 'Projected again'),
        { ...tenantCreated(ca.ctx.ids.next('ten'), 'Late'), expectedVersion: 3 },
      ]),
    ).toThrow(ConcurrencyConflictError);
    expect(ca.eventCount()).toBe(before);
    expect(tenants()).toEqual(tenantsBefore);

    const units = ['P1', 'P2', 'P3'].map((name) =>
      ca.ctx.store.groupedTransaction(() =>
        ca.ctx.store.append([
          tenantCreated(name === 'P2' ? tenantId : ca.ctx.ids.next('ten'), name),
        ]),
      ),
    );
    const settled = await Promise.allSettled(units);
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(ca.eventCount()).toBe(before + 2);
    expect(verifyChain(ca.ctx.store).ok).toBe(true);
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
    const dump = () =>
      Object.fromEntries(
        ['tenants', 'users', 'enrollment_tokens', 'devices', 'certificates'].map((table) => [
          table,
          db().prepare(`SELECT * FROM ${table} ORDER BY 1`).all(),
        ]),
      );
    const live = dump();
    ca.ctx.store.rebuildProjections();
    expect(dump()).toEqual(live);
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
    expect(verifyChain(twin.ctx.store)).toMatchObject({ ok: true, checked: ca.eventCount() });
  });

  it("reads outside a transaction without waiting for another instance's writer", () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    const writer = new PostgresConnection(db.url, 'lantern-ca contract test');
    try {
      // Another instance in the middle of a write transaction: it holds the writer lock.
      writer.query('BEGIN; SELECT pg_advisory_xact_lock(1279348308, hashtext(current_schema()))');
      const started = Date.now();
      expect(verifyChain(ca.ctx.store)).toMatchObject({ ok: true });
      expect(db.prepare('SELECT COUNT(*) AS n FROM devices').get()).toEqual({ n: 0 });
      // Waiting for the lock would take its timeout (30 s) and then fail.
      expect(Date.now() - started).toBeLessThan(5_000);
      writer.query('ROLLBACK');
    } finally {
      writer.close();
    }
  });

  it("consumes a proof's id without waiting for another instance's writer, and appends nothing so", () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    const consume = (jti: string) =>
      db.transactionWithoutTurn(
        () =>
          db
            .prepare(
              'INSERT INTO proof_jtis (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING',
            )
            .run(jti, 1).changes,
      )();
    const writer = new PostgresConnection(db.url, 'lantern-ca contract test');
    try {
      writer.query('BEGIN; SELECT pg_advisory_xact_lock(1279348308, hashtext(current_schema()))');
      const started = Date.now();
      expect(consume('jti-1')).toBe(1);
      expect(consume('jti-1')).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      writer.query('ROLLBACK');
    } finally {
      writer.close();
    }
    const before = ca.eventCount();
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
    expect(() => db.transactionWithoutTurn(append)()).toThrow(TypeError);
    expect(ca.eventCount()).toBe(before);
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
    expect(ca.ctx.store.db.prepare('SELECT COUNT(*) AS n FROM devices').get()).toEqual({ n: 1 });
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
    const crlNumbers = () =>
      (
        ca.ctx.store.db.prepare('SELECT crl_number FROM crls ORDER BY crl_number').all() as {
          crl_number: number;
        }[]
      ).map((row) => row.crl_number);
    await Promise.all([
      new CrlPublisher(ca.ctx).regenerate(),
      new CrlPublisher(twin.ctx).regenerate(),
    ]);
    const numbers = crlNumbers();
    expect(numbers.length).toBeGreaterThanOrEqual(2);
    expect(new Set(numbers).size).toBe(numbers.length);
    const crl = await ca.app.inject({ method: 'GET', url: '/v1/crl' });
    expect(crl.statusCode).toBe(200);
  });

  it('signs with one token key ring: a rotation on one instance is taken up by the other', async () => {
    const twin = await ca.twin();
    expect(twin.ctx.tokenKeys.jwks()).toEqual(ca.ctx.tokenKeys.jwks());
    const rotated = twin.ctx.tokenKeys.rotate().rotation;
    expect(rotated).not.toBeNull();
    expect(ca.ctx.tokenKeys.refresh()).toBe(true);
    expect(ca.ctx.tokenKeys.refresh()).toBe(false);
    expect(ca.ctx.tokenKeys.activeKid).toBe(rotated?.activeKid);
    expect(ca.ctx.tokenKeys.jwks()).toEqual(twin.ctx.tokenKeys.jwks());

    // Both instances' scheduled rotation comes due: one rotates, the other takes that up.
    ca.clock.advance(31 * 86_400_000);
    expect(ca.ctx.tokenKeys.scheduledRotation().rotation).not.toBeNull();
    expect(twin.ctx.tokenKeys.scheduledRotation().rotation).toBeNull();
    expect(twin.ctx.tokenKeys.jwks()).toEqual(ca.ctx.tokenKeys.jwks());
    expect(twin.ctx.tokenKeys.activeKid).toBe(ca.ctx.tokenKeys.activeKid);
  });

  it('revokes a token key on one instance; the other drops it at its next refresh', async () => {
    const twin = await ca.twin();
    const compromised = ca.ctx.tokenKeys.activeKid;
    twin.ctx.tokenKeys.revoke(compromised);
    expect(ca.ctx.tokenKeys.refresh()).toBe(true);
    expect(ca.ctx.tokenKeys.jwks().keys.map((key) => key.kid)).not.toContain(compromised);
    expect(ca.ctx.tokenKeys.activeKid).toBe(twin.ctx.tokenKeys.activeKid);
    expect(ca.ctx.tokenKeys.jwks()).toEqual(twin.ctx.tokenKeys.jwks());
  });

  it('refuses a key ring save based on a version another instance replaced', () => {
    const db = ca.ctx.store.db;
    const none = { read: () => null, write: () => {} };
    const first = databaseKeyRingText(db, none);
    const second = databaseKeyRingText(db, none);
    const base = first.read();
    expect(second.read()).toBe(base);
    first.write('{"from":"first"}');
    expect(second.changed()).toBe(true);
    expect(() => second.write('{"from":"second"}')).toThrow(KeyRingChangedError);
    expect(second.read()).toBe('{"from":"first"}');
    second.write('{"from":"second"}');
    expect(first.changed()).toBe(true);
  });

  it('lets one instance hold a lease; the other takes it once the holder is gone', async () => {
    const other = new PostgresDatabase(
      (ca.ctx.store.db as PostgresDatabase).url,
      'lantern-ca contract test',
    );
    try {
      const mine = leaseOf(ca.ctx.store.db, 'relay');
      const theirs = leaseOf(other, 'relay');
      expect(mine.tryAcquire()).toBe(true);
      expect(mine.tryAcquire()).toBe(true);
      expect(theirs.tryAcquire()).toBe(false);
      mine.release();
      expect(theirs.tryAcquire()).toBe(true);
      expect(mine.tryAcquire()).toBe(false);
      other.close();
      expect(mine.tryAcquire()).toBe(true);
      mine.release();
    } finally {
      other.close();
    }
  });

  it('never reports as committed a transaction PostgreSQL rolled back', () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    db.exec(
      'DROP TABLE IF EXISTS scratch; CREATE TABLE scratch (n INTEGER PRIMARY KEY, note TEXT)',
    );
    const insert = db.prepare('INSERT INTO scratch (n) VALUES (?)');
    insert.run(1);
    // A failed statement caught inside the transaction: PostgreSQL has aborted it, and would
    // answer the COMMIT with a ROLLBACK and no error.
    expect(() =>
      db.transaction(() => {
        insert.run(2);
        expect(() => insert.run(1)).toThrow(/duplicate|unique/i);
      })(),
    ).toThrow(/rolled it back/);
    expect(db.inTransaction).toBe(false);
    // A sent write the client cannot even encode leaves the server's transaction unaborted:
    // the commit that reports the failure must still undo the rest.
    const noted = db.prepare('INSERT INTO scratch (n, note) VALUES (?, ?)');
    expect(() =>
      db.transaction(() => {
        insert.run(3);
        noted.send?.(4, { big: 1n });
      })(),
    ).toThrow(/serialize|BigInt/i);
    expect(db.prepare('SELECT n FROM scratch ORDER BY n').all()).toEqual([{ n: 1 }]);
  });

  it('fails a transaction whose connection was lost midway, and commits none of it', () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    // A bare connection: it must not wait for the writer lock the transaction holds.
    const other = new PostgresConnection(db.url, 'lantern-ca contract test');
    try {
      db.exec('DROP TABLE IF EXISTS scratch; CREATE TABLE scratch (n INTEGER PRIMARY KEY)');
      const insert = db.prepare('INSERT INTO scratch (n) VALUES (?)');
      expect(() =>
        db.transaction(() => {
          insert.run(1);
          const { pid } = db.prepare('SELECT pg_backend_pid() AS pid').get() as { pid: number };
          other.query('SELECT pg_terminate_backend($1)', [pid]);
          insert.run(2);
          insert.run(3);
        })(),
      ).toThrow(/lost|terminat/i);
      expect(db.inTransaction).toBe(false);
      expect(db.prepare('SELECT n FROM scratch ORDER BY n').all()).toEqual([]);
      insert.run(4);
      expect(db.prepare('SELECT n FROM scratch ORDER BY n').all()).toEqual([{ n: 4 }]);
    } finally {
      other.close();
    }
  });

  it('knows a lease is lost when the session that held it ends, and another instance takes it', () => {
    const db = ca.ctx.store.db as PostgresDatabase;
    const other = new PostgresDatabase(db.url, 'lantern-ca contract test');
    try {
      const mine = leaseOf(db, 'relay');
      const theirs = leaseOf(other, 'relay');
      expect(mine.tryAcquire()).toBe(true);
      const { pid } = db.prepare('SELECT pg_backend_pid() AS pid').get() as { pid: number };
      other.prepare('SELECT pg_terminate_backend(?)').get(pid);
      // The first statement on the ended session fails; the next one reconnects.
      try {
        db.prepare('SELECT 1 AS one').get();
      } catch {
        // expected: the connection was terminated under it
      }
      expect(db.prepare('SELECT 1 AS one').get()).toEqual({ one: 1 });
      expect(mine.held()).toBe(false);
      expect(theirs.tryAcquire()).toBe(true);
      expect(mine.tryAcquire()).toBe(false);
    } finally {
      other.close();
    }
  });
});
