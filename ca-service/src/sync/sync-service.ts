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
import type { NewEvent } from '../store/event-store.js';
import { statement } from '../store/statements.js';

export const MAX_PUSH = 500;

/** What a device may report: facts it observed. Anything else is the CA's to record. */
const DEVICE_EVENT_TYPES = new Set([
  'identity.user.logged_in',
  'identity.user.login_failed',
  'identity.user.locked',
  'identity.user.mfa_enrolled',
  'identity.user.webauthn_registration_canceled',
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
  /** JWS by the issuing CA: `{ typ: 'time', iss, urls, iat, exp, aud: deviceId, nonce: the proof's jti }`. */
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
      const receipt = statement(
        db,
        'SELECT seq, event_id FROM device_event_receipts WHERE device_id = ? AND seq = ?',
      );
      const known = statement(db, 'SELECT 1 FROM events WHERE event_id = ?');
      const record = statement(
        db,
        'INSERT INTO device_event_receipts (device_id, seq, event_id, outcome, detail, received_at) VALUES (?, ?, ?, ?, ?, ?)',
      );
      // The round's accepted events go to the store in one append (one savepoint, one head read,
      // one hash-chain walk) instead of one each; `appending` stands in for the events table
      // until then, so an id pushed twice in one round is still a duplicate.
      const toAppend: NewEvent[] = [];
      const appending = new Set<string>();
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
        if (appending.has(event.eventId) || known.get(event.eventId)) {
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
        appending.add(event.eventId);
        toAppend.push({
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
        });
        record.run(device.deviceId, seq, event.eventId, 'stored', null, receivedAt);
        accepted += 1;
        this.ctx.metrics.syncEventStored(event);
        const quarantine = this.quarantineIfLate(device, event, correlationId);
        if (quarantine) {
          toAppend.push(quarantine);
          quarantined += 1;
        }
      }
      if (toAppend.length > 0) this.ctx.store.append(toAppend);
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
    return this.passkeyRefusal(device, event);
  }

  /**
   * A device reports passkeys it registered itself (its own origin): a TOTP enrolment is the
   * CA's to record, never a device's. The user must have signed in on this device (a session or
   * a grant there: registering needs a signed-in local session), the enrolment must name this
   * device, and the credential id must not already belong to another user or to the CA.
   */
  private passkeyRefusal(
    device: ProvenDevice,
    event: EventEnvelope,
  ): Omit<SyncRejection, 'seq'> | undefined {
    const { db } = this.ctx.store;
    const p = event.payload;
    if (event.eventType === 'identity.user.mfa_enrolled') {
      if (p['kind'] !== 'webauthn') {
        return {
          code: 'event_not_allowed',
          message: `a device may report passkey enrolments only, not ${String(p['kind'])}`,
        };
      }
      if (p['deviceId'] !== device.deviceId || typeof p['credentialId'] !== 'string') {
        return {
          code: 'event_not_allowed',
          message: 'a passkey enrolment from a device names that device and the credential id',
        };
      }
      const owner = db
        .prepare(
          `SELECT user_id, device_id FROM user_passkeys WHERE credential_id = ?
           UNION ALL SELECT user_id, NULL FROM webauthn_credentials WHERE credential_id = ?`,
        )
        .get(p['credentialId'], p['credentialId']) as
        { user_id: string; device_id: string | null } | undefined;
      if (owner && (owner.user_id !== p['userId'] || owner.device_id !== device.deviceId)) {
        return {
          code: 'event_not_allowed',
          message: 'this credential id is already registered elsewhere',
        };
      }
    }
    const passkeyEvent =
      event.eventType === 'identity.user.mfa_enrolled' ||
      event.eventType === 'identity.user.webauthn_registration_canceled';
    if (passkeyEvent && !this.signedInOnDevice(String(p['userId']), device.deviceId)) {
      return { code: 'event_not_allowed', message: 'the user never signed in on this device' };
    }
    return undefined;
  }

  private signedInOnDevice(userId: string, deviceId: string): boolean {
    return (
      this.ctx.store.db
        .prepare(
          `SELECT 1 FROM sessions WHERE user_id = ? AND device_id = ?
           UNION ALL SELECT 1 FROM grants WHERE user_id = ? AND device_id = ? LIMIT 1`,
        )
        .get(userId, deviceId, userId, deviceId) !== undefined
    );
  }

  private isTenantUser(userId: string, tenantId: string): boolean {
    return (
      statement(this.ctx.store.db, 'SELECT 1 FROM users WHERE user_id = ? AND tenant_id = ?').get(
        userId,
        tenantId,
      ) !== undefined
    );
  }

  /**
   * DESIGN §5: an offline sign-in after the device's revocation is flagged, not dropped: the
   * event to append right after the sign-in, if it is late.
   */
  private quarantineIfLate(
    device: ProvenDevice,
    event: EventEnvelope,
    correlationId: string,
  ): NewEvent | undefined {
    if (event.eventType !== 'identity.user.logged_in' || device.revokedAt === null)
      return undefined;
    if (event.payload['offline'] !== true || event.occurredAt <= device.revokedAt) return undefined;
    const userId = String(event.payload['userId']);
    const quarantine: NewEvent = {
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
    };
    this.ctx.logger.warn(
      {
        event: 'sync.offline_signin_quarantined',
        deviceId: device.deviceId,
        tenantId: device.tenantId,
      },
      'sign-in after revocation',
    );
    return quarantine;
  }

  /** Advances the device's ack over the receipts that now follow it: cost grows with new events only. */
  private contiguousAck(deviceId: string): number {
    const { db } = this.ctx.store;
    const state = statement(db, 'SELECT acked_seq FROM device_sync_state WHERE device_id = ?').get(
      deviceId,
    ) as { acked_seq: number } | undefined;
    let ack = state?.acked_seq ?? 0;
    const next = statement(
      db,
      'SELECT 1 FROM device_event_receipts WHERE device_id = ? AND seq = ?',
    );
    while (next.get(deviceId, ack + 1)) ack += 1;
    statement(
      db,
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
      // Signed, so an agent learns where the CA is reached now without trusting the wire.
      urls: this.ctx.publicUrls,
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
