import type { Database } from 'better-sqlite3';
import type { Projection, RecordedEvent } from '../store/event-store.js';
import { statement } from '../store/statements.js';
import { deviceReport } from '../store/device-receipts.js';

export type RevocationKind = 'device' | 'user' | 'session' | 'grant' | 'key';

function appendEntry(
  db: Database,
  event: RecordedEvent,
  entry: {
    kind: RevocationKind;
    subjectId: string;
    serial?: string;
    revokedAt: string;
    reason: string;
  },
): void {
  const { seq } = statement(
    db,
    'SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM revocation_feed WHERE tenant_id = ?',
  ).get(event.tenantId) as { seq: number };
  statement(
    db,
    `INSERT INTO revocation_feed (tenant_id, seq, kind, subject_id, serial, revoked_at, reason, position)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    event.tenantId,
    seq,
    entry.kind,
    entry.subjectId,
    entry.serial ?? null,
    entry.revokedAt,
    entry.reason,
    event.position,
  );
}

/**
 * DESIGN §5: one append-only, per-tenant sequence of everything revoked. Sequence numbers are
 * assigned here, so replaying the same events always yields the same feed.
 */
export const revocationFeedProjection: Projection = {
  name: 'revocation_feed',
  tables: ['revocation_feed'],
  apply(db, event) {
    const payload = event.payload as Record<string, unknown>;
    switch (event.eventType) {
      case 'identity.device.revoked': {
        const serials = (payload['certificateSerials'] as string[] | undefined) ?? [];
        const entry = {
          kind: 'device' as const,
          subjectId: payload['deviceId'] as string,
          revokedAt: payload['revokedAt'] as string,
          reason: payload['reason'] as string,
        };
        appendEntry(
          db,
          event,
          serials.length > 0 ? { ...entry, serial: serials[serials.length - 1] as string } : entry,
        );
        break;
      }
      case 'identity.session.revoked':
        // A device's sign-out ends its own session at the CA; the feed is the CA's word only.
        if (deviceReport(db, event.eventId) !== undefined) break;
        appendEntry(db, event, {
          kind: 'session',
          subjectId: payload['sessionId'] as string,
          revokedAt: event.occurredAt,
          reason: payload['reason'] as string,
        });
        break;
      case 'identity.user.suspended':
      case 'identity.user.erased':
        appendEntry(db, event, {
          kind: 'user',
          subjectId: payload['userId'] as string,
          revokedAt: event.occurredAt,
          reason: event.eventType === 'identity.user.erased' ? 'user_deleted' : 'admin',
        });
        break;
      case 'identity.user.locked':
        if (payload['reason'] !== 'admin' || payload['offline'] === true) break;
        if (deviceReport(db, event.eventId) !== undefined) break;
        appendEntry(db, event, {
          kind: 'user',
          subjectId: payload['userId'] as string,
          revokedAt: event.occurredAt,
          reason: 'user_locked',
        });
        break;
      case 'identity.grant.revoked':
        appendEntry(db, event, {
          kind: 'grant',
          subjectId: payload['grantId'] as string,
          revokedAt: event.occurredAt,
          reason: payload['reason'] as string,
        });
        break;
    }
  },
};
