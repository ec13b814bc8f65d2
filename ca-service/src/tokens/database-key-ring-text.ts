import type { SqlDatabase } from '../store/sql-database.js';
import type { KeyRingText } from './file-key-ring-store.js';
import { KeyRingChangedError } from './key-ring-store.js';

/**
 * The sealed key ring in the database CA instances share (PostgreSQL), so that they sign with
 * the same keys and publish the same JWKS. Each save names the version it replaces: of two
 * instances rotating at once, one wins and the other takes up its ring. Until the first save,
 * the ring `init` wrote to the data dir (copied to every instance) is read instead.
 */
export function databaseKeyRingText(
  db: SqlDatabase,
  initial: KeyRingText,
): KeyRingText & { changed(): Promise<boolean> } {
  let version = 0;
  const stored = async () =>
    (await db.prepare('SELECT version, keys FROM token_key_ring WHERE id = 1').get()) as
      { version: number; keys: string } | undefined;
  return {
    async read() {
      const row = await stored();
      if (row === undefined) return initial.read();
      version = row.version;
      return row.keys;
    },
    async write(text) {
      const outcome =
        version === 0
          ? await db
              .prepare(
                'INSERT INTO token_key_ring (id, version, keys) VALUES (1, 1, ?) ON CONFLICT (id) DO NOTHING',
              )
              .run(text)
          : await db
              .prepare(
                'UPDATE token_key_ring SET version = version + 1, keys = ? WHERE id = 1 AND version = ?',
              )
              .run(text, version);
      if (outcome.changes !== 1) throw new KeyRingChangedError();
      version += 1;
    },
    changed: async () => ((await stored())?.version ?? 0) !== version,
  };
}
