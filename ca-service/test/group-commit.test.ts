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

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lantern-group-commit-'));
  db = new Database(join(dir, 'ca.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL UNIQUE)');
  observer = new Database(join(dir, 'ca.db'));
  const store = new SqliteDatabase(db);
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
