import type { Projection } from '../store/event-store.js';
import { statement } from '../store/statements.js';

interface ApiKeyIssued {
  keyId: string;
  prefix: string;
  scopes: string[];
  secretHash: string;
  expiresAt?: string;
  name?: string;
}

export const apiKeysProjection: Projection = {
  name: 'api_keys',
  tables: ['api_keys'],
  apply(db, event) {
    if (event.eventType === 'identity.api_key.issued') {
      const key = event.payload as unknown as ApiKeyIssued;
      statement(
        db,
        `INSERT INTO api_keys (key_id, tenant_id, prefix, secret_hash, scopes, name, expires_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        key.keyId,
        event.tenantId,
        key.prefix,
        key.secretHash,
        JSON.stringify(key.scopes),
        key.name ?? null,
        key.expiresAt ?? null,
        event.occurredAt,
      );
    } else if (event.eventType === 'identity.api_key.revoked') {
      statement(db, 'UPDATE api_keys SET revoked_at = ? WHERE key_id = ?').run(
        event.occurredAt,
        event.payload['keyId'],
      );
    }
  },
};
