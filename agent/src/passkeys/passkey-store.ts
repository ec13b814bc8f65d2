import type { DataKey } from '../keys/data-key.js';
import type { AgentStore } from '../store/agent-store.js';

export interface StoredPasskey {
  credentialId: string;
  userId: string;
  /** COSE public key, opened. */
  publicKey: Uint8Array;
  signCount: number;
  transports: string[];
  userVerified: boolean;
  createdAt: number;
  lastUsedAt: number | null;
}

interface PasskeyRow {
  credentialId: string;
  userId: string;
  sealed: Buffer;
  signCount: number;
  transportsJson: string;
  userVerified: number;
  createdAt: number;
  lastUsedAt: number | null;
}

const SELECT = `SELECT credential_id AS credentialId, user_id AS userId, public_key_sealed AS sealed,
  sign_count AS signCount, transports_json AS transportsJson, user_verified AS userVerified,
  created_at AS createdAt, last_used_at AS lastUsedAt FROM passkeys`;

/** The store's AAD convention for the sealed public key. */
export const passkeyKeyAad = (credentialId: string) => `passkeys/${credentialId}/public_key_sealed`;

/**
 * The `passkeys` table. Writes run in the caller's transaction, next to the outbox event that
 * reports them. A row whose key does not open (moved, altered, or the data key shredded) throws
 * `SealedDataInvalidError` or `DataKeyDestroyedError` from `find`: callers decide what it means.
 */
export class PasskeyStore {
  constructor(
    private readonly store: AgentStore,
    private readonly dataKey: DataKey,
  ) {}

  insert(passkey: Omit<StoredPasskey, 'lastUsedAt'>): void {
    this.store.db
      .prepare<[string, string, Buffer, number, string, number, number]>(
        `INSERT INTO passkeys (credential_id, user_id, public_key_sealed, sign_count,
           transports_json, user_verified, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        passkey.credentialId,
        passkey.userId,
        this.dataKey.seal(passkey.publicKey, passkeyKeyAad(passkey.credentialId)),
        passkey.signCount,
        JSON.stringify(passkey.transports),
        passkey.userVerified ? 1 : 0,
        passkey.createdAt,
      );
  }

  exists(credentialId: string): boolean {
    return (
      this.store.db
        .prepare<[string], { one: number }>('SELECT 1 AS one FROM passkeys WHERE credential_id = ?')
        .get(credentialId) !== undefined
    );
  }

  find(credentialId: string): StoredPasskey | null {
    const row = this.store.db
      .prepare<[string], PasskeyRow>(`${SELECT} WHERE credential_id = ?`)
      .get(credentialId);
    return row === undefined ? null : this.opened(row);
  }

  /** Credential ids and transports of a user, for `allowCredentials`/`excludeCredentials`. */
  descriptorsOf(userId: string): { id: string; transports: string[] }[] {
    return this.store.db
      .prepare<[string], { id: string; transportsJson: string }>(
        'SELECT credential_id AS id, transports_json AS transportsJson FROM passkeys WHERE user_id = ? ORDER BY created_at',
      )
      .all(userId)
      .map((row) => ({
        id: row.id,
        transports: JSON.parse(row.transportsJson) as string[],
      }));
  }

  /** Only ever upward: a concurrent sign-in that saw a higher counter wins. */
  recordUse(credentialId: string, signCount: number, nowMs: number): void {
    this.store.db
      .prepare<[number, number, string]>(
        `UPDATE passkeys SET sign_count = max(sign_count, ?), last_used_at = ?
         WHERE credential_id = ?`,
      )
      .run(signCount, nowMs, credentialId);
  }

  private opened(row: PasskeyRow): StoredPasskey {
    return {
      credentialId: row.credentialId,
      userId: row.userId,
      publicKey: this.dataKey.open(row.sealed, passkeyKeyAad(row.credentialId)),
      signCount: row.signCount,
      transports: JSON.parse(row.transportsJson) as string[],
      userVerified: row.userVerified === 1,
      createdAt: row.createdAt,
      lastUsedAt: row.lastUsedAt,
    };
  }
}
