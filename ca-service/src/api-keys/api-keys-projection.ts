import type { Projection } from '../store/event-store.js';
import { statement } from '../store/statements.js';

export const apiKeysProjection: Projection = {
  name: 'api_keys',
  tables: ['api_keys'],
  apply(db, event) {
    switch (event.eventType) {
      case 'identity.api_key.issued': {
        const key = event.payload;
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
        break;
      }
      case 'identity.api_key.revoked':
        statement(db, 'UPDATE api_keys SET revoked_at = ? WHERE key_id = ?').run(
          event.occurredAt,
          event.payload.keyId,
        );
        break;
    }
  },
};
