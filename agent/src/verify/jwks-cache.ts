import type { JwtKeySet, PublicJwks } from '@lantern/shared';
import { importJwks } from '@lantern/shared';
import type { AgentStore } from '../store/agent-store.js';
import { statement } from '../store/statements.js';

const EMPTY: JwtKeySet = new Map();

/**
 * The CA's token keys as this device last received them (enrollment, online sign-in, sync), in
 * the `jwks` row. Reading is per call, so a key set another process stored is seen at once; the
 * import is redone only when the row changed, so the key set object stays the same between
 * changes and callers can keep verifiers built from it.
 */
export class JwksCache {
  private cached: { json: string; keys: JwtKeySet } | null = null;

  constructor(private readonly store: AgentStore) {}

  keys(): JwtKeySet {
    const row = statement<[], { json: string }>(
      this.store.db,
      'SELECT keys_json AS json FROM jwks WHERE id = 1',
    ).get();
    if (!row) return EMPTY;
    if (this.cached?.json !== row.json) {
      this.cached = { json: row.json, keys: importedOrEmpty(JSON.parse(row.json) as unknown) };
    }
    return this.cached.keys;
  }

  /** When the CA signed the set held (its iat, seconds); null when unknown. */
  signedAt(): number | null {
    return (
      statement<[], { signedAt: number | null }>(
        this.store.db,
        'SELECT signed_at AS signedAt FROM jwks WHERE id = 1',
      ).get()?.signedAt ?? null
    );
  }

  /**
   * Stores a key set the CA signed, with when it signed it. Only `storeSignedJwks` calls this,
   * with a set whose keys import (`verifySignedJwks`), so a broken answer never replaces keys
   * that work.
   */
  save(jwks: PublicJwks, fetchedAt: number, signedAt: number): void {
    statement<[string, number, number | null]>(
      this.store.db,
      `INSERT INTO jwks (id, keys_json, fetched_at, signed_at) VALUES (1, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET keys_json = excluded.keys_json,
         fetched_at = excluded.fetched_at, signed_at = excluded.signed_at`,
    ).run(JSON.stringify(jwks), fetchedAt, signedAt);
  }
}

/** A row that no longer imports verifies nothing, rather than failing every sign-in with a 500. */
function importedOrEmpty(jwks: unknown): JwtKeySet {
  try {
    return importJwks(jwks);
  } catch {
    return EMPTY;
  }
}
