import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommit } from '../src/store/group-commit.js';
import { SqliteDatabase } from '../src/store/sqlite-database.js';

let dir: string;
let db: Database.Database;
let observer: Database.Database;
let group: GroupCommit;
let store: SqliteDatabase;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lantern-group-commit-'));
  db = new Database(join(dir, 'ca.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL UNIQUE)');
  observer = new Database(join(dir, 'ca.db'));
  store = new SqliteDatabase(db);
  group = new GroupCommit(
    (fn) => store.transaction(fn)(),
    () => store.inTransaction,
  );
});
afterEach(() => {
  observer.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const insert = (label: string) => () =>
  Number(db.prepare('INSERT INTO items (label) VALUES (?)').run(label).lastInsertRowid);
const labels = () =>
  (observer.prepare('SELECT label FROM items ORDER BY id').all() as { label: string }[]).map(
    (row) => row.label,
  );

describe('GroupCommit', () => {
  it('commits the work queued in one turn once, in order, and settles only after the commit', async () => {
    const seenByOthers: string[][] = [];
    const promises = ['a', 'b', 'c', 'd', 'e'].map((label) =>
      group.run(() => {
        seenByOthers.push(labels());
        return insert(label)();
      }),
    );
    expect(labels()).toEqual([]);
    expect(await Promise.all(promises)).toEqual([1, 2, 3, 4, 5]);
    // No unit's write was committed while a later one ran: one transaction, one commit.
    expect(seenByOthers).toEqual([[], [], [], [], []]);
    expect(labels()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('commits work queued in separate turns separately', async () => {
    await group.run(insert('a'));
    expect(await group.run(labels)).toEqual(['a']);
  });

  it('gathers the units that arrive while a group commits into the next group, whatever their turn', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const first = group.run(async () => {
      await held;
      return insert('first')();
    });
    const later: Promise<number>[] = [];
    const seenByLater: string[][] = [];
    for (const label of ['x', 'y', 'z']) {
      // Each in its own event-loop turn, as network answers arrive.
      await new Promise((resolve) => setImmediate(resolve));
      later.push(
        group.run(() => {
          seenByLater.push(labels());
          return insert(label)();
        }),
      );
    }
    release();
    await first;
    expect(await Promise.all(later)).toEqual([2, 3, 4]);
    // One transaction for the three: none saw another's write committed.
    expect(seenByLater).toEqual([['first'], ['first'], ['first']]);
  });

  it('drains: the units queued while a group commits commit before the store closes', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const units = [
      group.run(async () => {
        await held;
        return insert('first')();
      }),
    ];
    for (const label of ['x', 'y']) {
      await new Promise((resolve) => setImmediate(resolve));
      units.push(group.run(insert(label)));
    }
    const closed = group.drain().then(() => store.close());
    release();
    expect(await Promise.allSettled(units)).toEqual([
      { status: 'fulfilled', value: 1 },
      { status: 'fulfilled', value: 2 },
      { status: 'fulfilled', value: 3 },
    ]);
    await closed;
    expect(db.open).toBe(false);
    expect(labels()).toEqual(['first', 'x', 'y']);
  });

  it('bounds a group, and commits what is left in the next one', async () => {
    const seen: number[] = [];
    const units = Array.from({ length: 200 }, (_, i) =>
      group.run(() => {
        seen.push(labels().length);
        return insert(`u${i}`)();
      }),
    );
    await Promise.all(units);
    expect(seen.slice(0, 128).every((count) => count === 0)).toBe(true);
    expect(seen.slice(128).every((count) => count === 128)).toBe(true);
    expect(labels()).toHaveLength(200);
  });

  it('rolls back only the unit that throws, and rejects only its caller', async () => {
    const results = await Promise.allSettled([
      group.run(insert('a')),
      group.run(() => {
        insert('b')();
        insert('a')();
      }),
      group.run(insert('c')),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE/);
    expect(labels()).toEqual(['a', 'c']);
  });

  it('rejects every unit, and commits none, when one unit ends the whole transaction', async () => {
    const results = await Promise.allSettled([
      group.run(insert('a')),
      group.run(() => {
        insert('b')();
        // What SQLite does on disk full or an I/O error: the whole transaction is rolled back.
        db.exec('ROLLBACK');
        throw new Error('disk I/O error');
      }),
      group.run(insert('c')),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(labels()).toEqual([]);
    expect(db.inTransaction).toBe(false);
  });

  it('rejects every unit when the commit itself fails, and writes nothing', async () => {
    db.exec('CREATE TABLE parents (id INTEGER PRIMARY KEY)');
    db.exec(
      'CREATE TABLE children (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)',
    );
    db.pragma('foreign_keys = ON');
    const results = await Promise.allSettled([
      group.run(insert('a')),
      group.run(() => db.prepare('INSERT INTO children (parent) VALUES (42)').run()),
    ]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(labels()).toEqual([]);
  });
});
