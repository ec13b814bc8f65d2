import type { Projection } from '../store/event-store.js';
import { statement } from '../store/statements.js';

export const enrollmentTokensProjection: Projection = {
  name: 'enrollment_tokens',
  tables: ['enrollment_tokens'],
  apply(db, event) {
    switch (event.eventType) {
      case 'identity.enrollment_token.issued': {
        const token = event.payload;
        statement(
          db,
          `INSERT INTO enrollment_tokens (token_id, tenant_id, token_hash, device_name, expires_at, status, created_at)
           VALUES (?, ?, ?, ?, ?, 'issued', ?)`,
        ).run(
          token.tokenId,
          event.tenantId,
          token.tokenHash,
          token.deviceName ?? null,
          token.expiresAt,
          event.occurredAt,
        );
        break;
      }
      case 'identity.enrollment_token.consumed':
        statement(
          db,
          "UPDATE enrollment_tokens SET status = 'consumed', device_id = ? WHERE token_id = ?",
        ).run(event.payload.deviceId, event.payload.tokenId);
        break;
      case 'identity.enrollment_token.revoked':
        statement(db, "UPDATE enrollment_tokens SET status = 'revoked' WHERE token_id = ?").run(
          event.payload.tokenId,
        );
        break;
    }
  },
};
