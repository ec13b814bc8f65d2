import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { manualClock } from '@lantern/shared';
import { StoreCorruptError, StoreVersionUnsupportedError } from '../src/errors.js';
import { openAgentStore } from '../src/store/agent-store.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const clock = manualClock(Date.UTC(2026, 10, 23, 10));

const TABLES = [
  'binding',
  'former_device_keys',
  'grants',
  'jwks',
  'lockout',
  'outbox',
  'outbox_state',
  'passkeys',
  'revocations',
  'schema_migrations',
  'sessions',
  'state_seal',
  'sync_state',
  'totp_steps',
  'trusted_time',
  'verifiers',
];

describe('agent store', () => {
  it('numbers migrations 1..N without gaps', () => {
    expect(MIGRATIONS.map((migration) => migration.version)).toEqual(
      MIGRATIONS.map((_, index) => index + 1),
    );
  });

  it('creates every table with WAL, full sync and foreign keys on, in a 0600 file', () => {
    const path = join(tempDir(), 'agent.db');
    const store = openAgentStore(path, { clock });
    if (process.platform !== 'win32') expect(statSync(path).mode & 0o777).toBe(0o600);
    const tables = store.db
      .prepare<[], { name: string }>(
        "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
      )
      .all()
      .map((row) => row.name);
    expect(tables).toEqual(TABLES);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(store.integrityCheck()).toEqual({ ok: true });
    store.close();
  });

  it('runs each migration once and keeps data across reopen', () => {
    const path = join(tempDir(), 'agent.db');
    const first = openAgentStore(path, { clock });
    first.db
      .prepare(
        `INSERT INTO revocations (kind, subject_id, revoked_at, reason, feed_seq, received_at)
         VALUES ('user', 'usr_1', 1, 'admin', 7, 2)`,
      )
      .run();
    first.close();

    clock.advance(60_000);
    const second = openAgentStore(path, { clock });
    const migrations = second.db
      .prepare<[], { version: number; applied_at: number }>('SELECT * FROM schema_migrations')
      .all();
    expect(migrations).toEqual(
      MIGRATIONS.map(({ version }) =>
        expect.objectContaining({ version, applied_at: clock.now() - 60_000 }),
      ),
    );
    expect(second.schemaVersion()).toBe(MIGRATIONS.length);
    expect(second.db.prepare('SELECT subject_id, feed_seq FROM revocations').all()).toEqual([
      { subject_id: 'usr_1', feed_seq: 7 },
    ]);
    expect(second.integrityCheck()).toEqual({ ok: true });
    second.close();
  });

  it('applies a later migration to an existing store', () => {
    const path = join(tempDir(), 'agent.db');
    openAgentStore(path, { clock }).close();
    const next = [
      ...MIGRATIONS,
      { version: MIGRATIONS.length + 1, name: 'kv', sql: 'CREATE TABLE kv (k TEXT) STRICT' },
    ];
    const store = openAgentStore(path, { clock, migrations: next });
    expect(store.schemaVersion()).toBe(MIGRATIONS.length + 1);
    store.db.prepare("INSERT INTO kv VALUES ('a')").run();
    store.close();
  });

  it('refuses a store written by a newer agent, and leaves it untouched', () => {
    const path = join(tempDir(), 'agent.db');
    openAgentStore(path, { clock }).close();
    const raw = new Database(path);
    raw.prepare("INSERT INTO schema_migrations VALUES (99, 'from the future', 0)").run();
    raw.close();

    expect(() => openAgentStore(path, { clock })).toThrow(StoreVersionUnsupportedError);
    const check = new Database(path);
    expect(check.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({
      v: 99,
    });
    check.close();
  });

  it('reports a file that is not a database as store_corrupt', () => {
    const path = join(tempDir(), 'agent.db');
    writeFileSync(path, 'definitely not sqlite, just some text that is long enough'.repeat(20));
    expect(() => openAgentStore(path, { clock })).toThrow(StoreCorruptError);
  });

  it('commits a transaction as a whole or not at all', () => {
    const store = openAgentStore(join(tempDir(), 'agent.db'), { clock });
    const insert = store.db.prepare<[string]>(
      `INSERT INTO lockout (user_id, failure_count, updated_at) VALUES (?, 1, 0)`,
    );
    expect(() =>
      store.transaction(() => {
        insert.run('usr_a');
        insert.run('usr_a');
      }),
    ).toThrow(/UNIQUE/);
    expect(store.db.prepare('SELECT count(*) AS n FROM lockout').get()).toEqual({ n: 0 });

    store.transaction(() => {
      insert.run('usr_b');
      // A nested call is a savepoint inside the outer transaction.
      expect(() =>
        store.transaction(() => {
          insert.run('usr_c');
          throw new Error('inner fails');
        }),
      ).toThrow('inner fails');
    });
    expect(store.db.prepare('SELECT user_id FROM lockout').all()).toEqual([{ user_id: 'usr_b' }]);
    store.close();
  });

  it('rejects rows that break the documented constraints', () => {
    const store = openAgentStore(join(tempDir(), 'agent.db'), { clock });
    const session = store.db.prepare(
      `INSERT INTO sessions (session_id, user_id, offline, created_at, expires_at, ended_at, end_reason)
       VALUES (?, 'usr_1', 1, 10, 20, ?, ?)`,
    );
    expect(() => session.run('ses_1', 15, null)).toThrow(/CHECK/);
    expect(() =>
      store.db.prepare("INSERT INTO binding (id, device_id) VALUES (2, 'dev_x')").run(),
    ).toThrow();
    expect(() =>
      store.db
        .prepare(
          `INSERT INTO revocations (kind, subject_id, revoked_at, reason, received_at)
           VALUES ('tenant', 'ten_1', 1, 'admin', 1)`,
        )
        .run(),
    ).toThrow(/CHECK/);
    store.close();
  });
});
