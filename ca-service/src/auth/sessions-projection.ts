import type { Projection } from '../store/event-store.js';
import { statement } from '../store/statements.js';
import { deviceReport } from '../sync/device-receipts.js';

export const sessionsProjection: Projection = {
  name: 'sessions',
  tables: ['sessions', 'grants'],
  events: new Set([
    'identity.grant.issued',
    'identity.grant.revoked',
    'identity.session.created',
    'identity.session.refreshed',
    'identity.session.revoked',
  ]),
  async apply(db, event) {
    switch (event.eventType) {
      case 'identity.session.created': {
        if ((await deviceReport(db, event.eventId)) === 'inert') break;
        const session = event.payload;
        statement(
          db,
          `INSERT INTO sessions (session_id, tenant_id, user_id, device_id, family_id, offline, status, created_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?) ON CONFLICT (session_id) DO NOTHING`,
        ).run(
          session.sessionId,
          event.tenantId,
          session.userId,
          session.deviceId ?? null,
          session.familyId ?? null,
          session.offline ? 1 : 0,
          event.occurredAt,
          session.expiresAt,
        );
        break;
      }
      case 'identity.session.refreshed':
        statement(db, 'UPDATE sessions SET expires_at = ? WHERE session_id = ?').run(
          event.payload.expiresAt,
          event.payload.sessionId,
        );
        break;
      case 'identity.session.revoked':
        if ((await deviceReport(db, event.eventId)) === 'inert') break;
        statement(
          db,
          "UPDATE sessions SET status = 'revoked', revoked_at = ?, revoke_reason = ? WHERE session_id = ? AND status = 'active'",
        ).run(event.payload.at, event.payload.reason, event.payload.sessionId);
        break;
      case 'identity.grant.issued': {
        const grant = event.payload;
        statement(
          db,
          `INSERT INTO grants (grant_id, tenant_id, user_id, device_id, methods, offline_until, status, issued_at)
           VALUES (?, ?, ?, ?, ?, ?, 'active', ?)`,
        ).run(
          grant.grantId,
          event.tenantId,
          grant.userId,
          grant.deviceId,
          JSON.stringify(grant.methods),
          grant.offlineUntil,
          event.occurredAt,
        );
        break;
      }
      case 'identity.grant.revoked':
        statement(
          db,
          "UPDATE grants SET status = 'revoked', revoked_at = ? WHERE grant_id = ?",
        ).run(event.occurredAt, event.payload.grantId);
        break;
    }
  },
};
