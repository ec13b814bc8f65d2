import type { Projection } from '../store/event-store.js';
import { statement } from '../store/statements.js';
import { deviceReport } from '../store/device-receipts.js';

export const sessionsProjection: Projection = {
  name: 'sessions',
  tables: ['sessions', 'grants'],
  apply(db, event) {
    const p = event.payload as Record<string, unknown>;
    switch (event.eventType) {
      case 'identity.session.created':
        if (deviceReport(db, event.eventId) === 'inert') break;
        statement(
          db,
          `INSERT INTO sessions (session_id, tenant_id, user_id, device_id, family_id, offline, status, created_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?) ON CONFLICT (session_id) DO NOTHING`,
        ).run(
          p['sessionId'],
          event.tenantId,
          p['userId'],
          p['deviceId'] ?? null,
          p['familyId'] ?? null,
          p['offline'] ? 1 : 0,
          event.occurredAt,
          p['expiresAt'],
        );
        break;
      case 'identity.session.refreshed':
        statement(db, 'UPDATE sessions SET expires_at = ? WHERE session_id = ?').run(
          p['expiresAt'],
          p['sessionId'],
        );
        break;
      case 'identity.session.revoked':
        if (deviceReport(db, event.eventId) === 'inert') break;
        statement(
          db,
          "UPDATE sessions SET status = 'revoked', revoked_at = ?, revoke_reason = ? WHERE session_id = ? AND status = 'active'",
        ).run(event.occurredAt, p['reason'], p['sessionId']);
        break;
      case 'identity.grant.issued':
        statement(
          db,
          `INSERT INTO grants (grant_id, tenant_id, user_id, device_id, methods, offline_until, status, issued_at)
           VALUES (?, ?, ?, ?, ?, ?, 'active', ?)`,
        ).run(
          p['grantId'],
          event.tenantId,
          p['userId'],
          p['deviceId'],
          JSON.stringify(p['methods']),
          p['offlineUntil'],
          event.occurredAt,
        );
        break;
      case 'identity.grant.revoked':
        statement(
          db,
          "UPDATE grants SET status = 'revoked', revoked_at = ? WHERE grant_id = ?",
        ).run(event.occurredAt, p['grantId']);
        break;
    }
  },
};
