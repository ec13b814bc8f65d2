import type { WriteBehindDatabase } from '../store/write-behind.js';
import type { Projection, RecordedEvent } from '../store/event-store.js';
import { statement } from '../store/statements.js';
import { deviceReport } from '../sync/device-receipts.js';
import { revocationFeedHead } from './revocation-pages.js';

export type RevocationKind = 'device' | 'user' | 'session' | 'grant' | 'key';

async function appendEntry(
  db: WriteBehindDatabase,
  event: RecordedEvent,
  entry: {
    kind: RevocationKind;
    subjectId: string;
    serial?: string;
    revokedAt: string;
    reason: string;
  },
): Promise<void> {
  const seq = (await revocationFeedHead(db, event.tenantId)) + 1;
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
 * docs/architecture.md §5: one append-only, per-tenant sequence of everything revoked. Sequence numbers are
 * assigned here, so replaying the same events always yields the same feed.
 */
export const revocationFeedProjection: Projection = {
  name: 'revocation_feed',
  tables: ['revocation_feed'],
  events: new Set([
    'identity.device.revoked',
    'identity.grant.revoked',
    'identity.session.revoked',
    'identity.user.erased',
    'identity.user.locked',
    'identity.user.suspended',
  ]),
  async apply(db, event) {
    switch (event.eventType) {
      case 'identity.device.revoked': {
        const { deviceId, revokedAt, reason, certificateSerials } = event.payload;
        const serials = certificateSerials ?? [];
        const entry = { kind: 'device' as const, subjectId: deviceId, revokedAt, reason };
        await appendEntry(
          db,
          event,
          serials.length > 0 ? { ...entry, serial: serials[serials.length - 1] as string } : entry,
        );
        break;
      }
      case 'identity.session.revoked':
        // A device's sign-out ends its own session at the CA; the feed is the CA's word only.
        if ((await deviceReport(db, event.eventId)) !== undefined) break;
        await appendEntry(db, event, {
          kind: 'session',
          subjectId: event.payload.sessionId,
          revokedAt: event.payload.at,
          reason: event.payload.reason,
        });
        break;
      case 'identity.user.suspended':
      case 'identity.user.erased':
        await appendEntry(db, event, {
          kind: 'user',
          subjectId: event.payload.userId,
          revokedAt: event.occurredAt,
          reason: event.eventType === 'identity.user.erased' ? 'user_deleted' : 'admin',
        });
        break;
      case 'identity.user.locked':
        if (event.payload.reason !== 'admin' || event.payload.offline === true) break;
        if ((await deviceReport(db, event.eventId)) !== undefined) break;
        await appendEntry(db, event, {
          kind: 'user',
          subjectId: event.payload.userId,
          revokedAt: event.occurredAt,
          reason: 'user_locked',
        });
        break;
      case 'identity.grant.revoked':
        await appendEntry(db, event, {
          kind: 'grant',
          subjectId: event.payload.grantId,
          revokedAt: event.occurredAt,
          reason: event.payload.reason,
        });
        break;
    }
  },
};
