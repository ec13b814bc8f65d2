import type { EventEnvelope, PublicJwks } from '@lantern/shared';
import { EventValidator, canonicalJson } from '@lantern/shared';
import { createHash } from 'node:crypto';
import type { CaContext } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import type { BindingPolicy } from '../issuance/binding-response.js';
import { bindingPolicy } from '../issuance/binding-response.js';
import { fromPem } from '../pki/der.js';
import { signedRevocationPage } from '../revocation/revocation-pages.js';

export const MAX_PUSH = 500;

/** What a device may report: facts it observed. Anything else is the CA's to record. */
const DEVICE_EVENT_TYPES = new Set([
  'identity.user.logged_in',
  'identity.user.login_failed',
  'identity.user.locked',
  'identity.user.mfa_enrolled',
  'identity.session.created',
  'identity.session.revoked',
  'identity.device.clock_rollback_detected',
]);

const AGGREGATE_ID_FIELD: Record<string, string> = {
  user: 'userId',
  session: 'sessionId',
  device: 'deviceId',
  grant: 'grantId',
};

export interface PushedEvent {
  seq: number;
  event: EventEnvelope;
}

export interface SyncRequest {
  events: PushedEvent[];
  revocationCursor: number;
  jwksEtag?: string;
}

export interface SyncRejection {
  seq: number;
  code: 'sequence_conflict' | 'event_not_allowed' | 'schema_violation' | 'tenant_mismatch';
  message: string;
}

export interface SyncResponse {
  /** Highest sequence number such that every event up to it is stored (or was refused for good). */
  ack: number;
  accepted: number;
  duplicates: number;
  rejected: SyncRejection[];
  quarantined: number;
  /** Signed page of the revocation feed after the device's cursor. */
  revocations: { page: string; next: number; more: boolean };
  jwks?: PublicJwks;
  jwksEtag: string;
  policy: BindingPolicy;
  /** JWS by the issuing CA: `{ typ: 'time', iat, exp, aud: deviceId, nonce: the proof's jti }`. */
  serverTime: string;
}

interface Receipt {
  seq: number;
  event_id: string;
}

export function jwksEtag(jwks: PublicJwks): string {
  return createHash('sha256').update(canonicalJson(jwks)).digest('base64url').slice(0, 22);
}

/**
 * DESIGN §5, one round of `POST /v1/sync`. Push and pull are independent and idempotent: a
 * pushed event is stored at most once, whatever is retried or lost, because (device, seq) and
 * the event id are both checked in the same transaction that appends it.
 */
export class SyncService {
  private readonly validator: EventValidator;

  constructor(private readonly ctx: CaContext) {
    this.validator = new EventValidator();
  }

  async sync(
    device: ProvenDevice,
    request: SyncRequest,
    correlationId: string,
  ): Promise<SyncResponse> {
    const push = this.ingest(device, request.events, correlationId);
    this.ctx.metrics.syncRound(push);
    const page = await signedRevocationPage(
      this.ctx,
      device.tenantId,
      request.revocationCursor,
      500,
    );
    const jwks = this.ctx.tokenKeys.jwks();
    const etag = jwksEtag(jwks);
    return {
      ...push,
      revocations: { page: page.page, next: page.payload.next, more: page.payload.more },
      ...(request.jwksEtag === etag ? {} : { jwks }),
      jwksEtag: etag,
      policy: bindingPolicy(this.ctx.bindingProfile),
      serverTime: await this.signedTime(device),
    };
  }

  private ingest(device: ProvenDevice, pushed: PushedEvent[], correlationId: string) {
    const { db } = this.ctx.store;
    const ordered = [...pushed].sort((a, b) => a.seq - b.seq);
    return this.ctx.store.transaction(() => {
      let accepted = 0;
      let duplicates = 0;
      let quarantined = 0;
      const rejected: SyncRejection[] = [];
      const receivedAt = isoNow(this.ctx.clock);
      const receipt = db.prepare(
        'SELECT seq, event_id FROM device_event_receipts WHERE device_id = ? AND seq = ?',
      );
      const known = db.prepare('SELECT 1 FROM events WHERE event_id = ?');
      const record = db.prepare(
        'INSERT INTO device_event_receipts (device_id, seq, event_id, outcome, detail, received_at) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const { seq, event } of ordered) {
        const existing = receipt.get(device.deviceId, seq) as Receipt | undefined;
        if (existing) {
          if (existing.event_id === event.eventId) duplicates += 1;
          else
            rejected.push({
              seq,
              code: 'sequence_conflict',
              message: `sequence ${seq} already holds ${existing.event_id}`,
            });
          continue;
        }
        if (known.get(event.eventId)) {
          record.run(device.deviceId, seq, event.eventId, 'duplicate', null, receivedAt);
          duplicates += 1;
          continue;
        }
        const refusal = this.refusal(device, event);
        if (refusal) {
          record.run(
            device.deviceId,
            seq,
            event.eventId,
            'rejected',
            `${refusal.code}: ${refusal.message}`,
            receivedAt,
          );
          rejected.push({ seq, ...refusal });
          continue;
        }
        const definition = this.validator.definition(event.eventType, event.eventVersion);
        const idField = AGGREGATE_ID_FIELD[definition?.aggregate ?? ''] ?? 'deviceId';
        const [stored] = this.ctx.store.append([
          {
            eventId: event.eventId,
            eventType: event.eventType,
            eventVersion: event.eventVersion,
            aggregateId: String(event.payload[idField] ?? device.deviceId),
            tenantId: device.tenantId,
            actor: event.actor,
            correlationId: event.correlationId,
            ...(event.causationId === undefined ? {} : { causationId: event.causationId }),
            occurredAt: event.occurredAt,
            payload: event.payload,
          },
        ]);
        record.run(device.deviceId, seq, event.eventId, 'stored', null, receivedAt);
        accepted += 1;
        this.ctx.metrics.syncEventStored(event);
        if (stored && this.quarantineIfLate(device, stored.eventType, event, correlationId))
          quarantined += 1;
      }
      const ack = this.contiguousAck(device.deviceId);
      return { ack, accepted, duplicates, rejected, quarantined };
    });
  }

  private refusal(
    device: ProvenDevice,
    event: EventEnvelope,
  ): Omit<SyncRejection, 'seq'> | undefined {
    if (!DEVICE_EVENT_TYPES.has(event.eventType)) {
      return {
        code: 'event_not_allowed',
        message: `${event.eventType} is not an event a device may report`,
      };
    }
    const verdict = this.validator.check(event);
    if (!verdict.ok) return { code: 'schema_violation', message: verdict.reason };
    if (event.tenantId !== device.tenantId) {
      return { code: 'tenant_mismatch', message: 'the event names another tenant than the device' };
    }
    const actorOk =
      (event.actor.type === 'device' && event.actor.id === device.deviceId) ||
      (event.actor.type === 'user' && this.isTenantUser(event.actor.id, device.tenantId));
    const payloadDevice = event.payload['deviceId'];
    const payloadUser = event.payload['userId'];
    if (
      !actorOk ||
      (payloadDevice !== undefined && payloadDevice !== device.deviceId) ||
      (typeof payloadUser === 'string' && !this.isTenantUser(payloadUser, device.tenantId))
    ) {
      return {
        code: 'tenant_mismatch',
        message: 'the event names a device or user outside this device and tenant',
      };
    }
    return undefined;
  }

  private isTenantUser(userId: string, tenantId: string): boolean {
    return (
      this.ctx.store.db
        .prepare('SELECT 1 FROM users WHERE user_id = ? AND tenant_id = ?')
        .get(userId, tenantId) !== undefined
    );
  }

  /** DESIGN §5: an offline sign-in after the device's revocation is flagged, not dropped. */
  private quarantineIfLate(
    device: ProvenDevice,
    eventType: string,
    event: EventEnvelope,
    correlationId: string,
  ): boolean {
    if (eventType !== 'identity.user.logged_in' || device.revokedAt === null) return false;
    if (event.payload['offline'] !== true || event.occurredAt <= device.revokedAt) return false;
    const userId = String(event.payload['userId']);
    this.ctx.store.append([
      {
        eventType: 'identity.user.offline_signin_quarantined',
        aggregateId: userId,
        tenantId: device.tenantId,
        actor: { type: 'system', id: 'lantern-ca-sync' },
        correlationId,
        causationId: event.eventId,
        payload: {
          userId,
          deviceId: device.deviceId,
          signinEventId: event.eventId,
          signedInAt: event.occurredAt,
          deviceRevokedAt: device.revokedAt,
        },
      },
    ]);
    this.ctx.logger.warn(
      {
        event: 'sync.offline_signin_quarantined',
        deviceId: device.deviceId,
        tenantId: device.tenantId,
      },
      'sign-in after revocation',
    );
    return true;
  }

  /** Advances the device's ack over the receipts that now follow it: cost grows with new events only. */
  private contiguousAck(deviceId: string): number {
    const { db } = this.ctx.store;
    const state = db
      .prepare('SELECT acked_seq FROM device_sync_state WHERE device_id = ?')
      .get(deviceId) as { acked_seq: number } | undefined;
    let ack = state?.acked_seq ?? 0;
    const next = db.prepare('SELECT 1 FROM device_event_receipts WHERE device_id = ? AND seq = ?');
    while (next.get(deviceId, ack + 1)) ack += 1;
    db.prepare(
      'INSERT INTO device_sync_state (device_id, acked_seq) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET acked_seq = excluded.acked_seq',
    ).run(deviceId, ack);
    return ack;
  }

  private async signedTime(device: ProvenDevice): Promise<string> {
    const header = {
      alg: 'ES256',
      typ: 'lantern-time+jws',
      x5c: [fromPem(this.ctx.ca.issuingPem).toString('base64')],
    };
    const iat = Math.floor(this.ctx.clock.now() / 1000);
    const claims = {
      typ: 'time',
      iss: this.ctx.publicUrl,
      aud: device.deviceId,
      iat,
      exp: iat + 300,
      nonce: device.jti,
    };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const signature = await this.ctx.ca.authority.signer.sign(Buffer.from(input), 'ieee-p1363');
    return `${input}.${signature.toString('base64url')}`;
  }
}
