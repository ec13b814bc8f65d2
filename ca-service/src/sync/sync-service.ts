import type {
  EventEnvelope,
  EventSource,
  ServerTimeClaims,
  SyncAnswerBody,
  SyncPushedEvent,
  SyncRejection,
  SyncRequest,
  SyncResponse,
} from '@lantern/shared';
import { EventValidator, SERVER_TIME_TYP, syncAnswerDigest, upcast } from '@lantern/shared';
import type { CaContext } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { getDevice } from '../devices/devices.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import { bindingPolicy } from '../issuance/binding-response.js';
import { caSignedJws } from '../pki/ca-signed-jws.js';
import { jwksEtag, signedJwks } from '../pki/signed-jwks.js';
import { signedRevocationPage } from '../revocation/revocation-pages.js';
import type { NewEvent } from '../store/event-store.js';
import { RowBatches } from '../store/row-batches.js';
import { statement } from '../store/statements.js';
import { userInTenant } from '../users/users.js';
import type { DeviceScope } from './device-authority.js';
import { DEVICE_AUTHORITY } from './device-authority.js';

const AGGREGATE_ID_FIELD: Record<string, string> = {
  user: 'userId',
  session: 'sessionId',
  device: 'deviceId',
  grant: 'grantId',
};

interface Receipt {
  seq: number;
  /** Null where the device holds no receipt for the seq. */
  event_id: string | null;
}

/**
 * docs/architecture.md §5, one round of `POST /v1/sync`. Push and pull are independent and idempotent: a
 * pushed event is stored at most once, whatever is retried or lost, because (device, seq) and
 * the event id are both checked in the same transaction that appends it.
 */
export class SyncService {
  private readonly validator: EventValidator;

  constructor(
    private readonly ctx: Pick<
      CaContext,
      | 'bindingProfile'
      | 'ca'
      | 'clock'
      | 'logger'
      | 'metrics'
      | 'publicUrl'
      | 'publicUrls'
      | 'store'
      | 'tokenKeys'
    >,
  ) {
    this.validator = new EventValidator();
  }

  async sync(
    device: ProvenDevice,
    request: SyncRequest,
    correlationId: string,
  ): Promise<SyncResponse> {
    const push = await this.ingest(device, request.events, correlationId);
    this.ctx.metrics.syncRound(push);
    const page = await signedRevocationPage(
      this.ctx,
      device.tenantId,
      request.revocationCursor,
      500,
    );
    const jwks = this.ctx.tokenKeys.jwks();
    const etag = jwksEtag(jwks);
    const answer: SyncAnswerBody = {
      ...push,
      revocations: { page: page.page, next: page.payload.next, more: page.payload.more },
      ...(request.jwksEtag === etag ? {} : { jwks: await signedJwks(this.ctx, jwks, etag) }),
      jwksEtag: etag,
      policy: bindingPolicy(this.ctx.bindingProfile),
    };
    return {
      ...answer,
      serverTime: await this.signedTime(device, {
        answer: syncAnswerDigest(answer),
        head: page.head,
      }),
    };
  }

  private ingest(device: ProvenDevice, pushed: SyncPushedEvent[], correlationId: string) {
    const { db } = this.ctx.store;
    const ordered = [...pushed].sort((a, b) => a.seq - b.seq);
    return this.ctx.store.transaction(async () => {
      let accepted = 0;
      let duplicates = 0;
      let quarantined = 0;
      const rejected: SyncRejection[] = [];
      const receivedAt = isoNow(this.ctx.clock);
      // The round's receipts and already-stored ids, read in one query each (two point lookups
      // per event were ~10 % of ingest). Both stay current through the round, in this same
      // transaction: `record` notes each receipt it writes, and the accepted events, appended
      // at the end, join `known` at once, so a seq or an id pushed twice in one round is still
      // seen as pushed.
      const receipts = await this.receiptsOf(device.deviceId, ordered);
      const known = await this.ctx.store.storedEventIds(ordered.map(({ event }) => event.eventId));
      // Written in batches, all before the append (its projections read them: deviceReport): a
      // few statements for the round rather than one per event.
      const newReceipts = new RowBatches(
        db,
        'INSERT INTO device_event_receipts (device_id, seq, event_id, outcome, detail, received_at)',
      );
      let receiptsWritten = 0;
      const record = (seq: number, eventId: string, outcome: string, detail: string | null) => {
        newReceipts.add([device.deviceId, seq, eventId, outcome, detail, receivedAt]);
        receiptsWritten += 1;
        receipts.set(seq, eventId);
      };
      // The round's accepted events go to the store in one append (one savepoint, one head read,
      // one hash-chain walk) instead of one each.
      const toAppend: NewEvent[] = [];
      const sessionsThisRound = new Set<string>();
      // A device's backlog names the same few users in every event: each is looked up once.
      const tenantUsers = new Map<string, boolean>();
      const scope: DeviceScope = {
        db,
        deviceId: device.deviceId,
        tenantId: device.tenantId,
        sessionsThisRound,
      };
      // After its revocation a device only hands its outbox over: what it pushes is stored as a
      // record (`recorded`) that no projection acts on.
      // Judged by the store now, not by what the proof's check read: a revocation committed
      // since (on this instance or another) makes this round a hand-over already.
      const { revokedAt } = await getDevice(this.ctx, device.deviceId, null);
      const outcome = revokedAt === null ? 'stored' : 'recorded';
      const source: EventSource = { service: 'lantern-agent', instance: device.deviceId };
      // Every seq of the round has a receipt by the end of it (pre-existing or recorded below).
      const received = new Set<number>();
      for (const { seq, event } of ordered) {
        const existing = receipts.get(seq);
        received.add(seq);
        if (existing !== undefined) {
          if (existing === event.eventId) duplicates += 1;
          else
            rejected.push({
              seq,
              code: 'sequence_conflict',
              message: `sequence ${seq} already holds ${existing}`,
            });
          continue;
        }
        if (known.has(event.eventId)) {
          record(seq, event.eventId, 'duplicate', null);
          duplicates += 1;
          continue;
        }
        const refusal = await this.refusal(scope, event, tenantUsers);
        if (refusal) {
          record(seq, event.eventId, 'rejected', `${refusal.code}: ${refusal.message}`);
          rejected.push({ seq, ...refusal });
          continue;
        }
        const definition = this.validator.definition(event.eventType, event.eventVersion);
        const idField = AGGREGATE_ID_FIELD[definition?.aggregate ?? ''] ?? 'deviceId';
        known.add(event.eventId);
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
          validated: true,
          source,
        });
        record(seq, event.eventId, outcome, null);
        if (event.eventType === 'identity.session.created') {
          sessionsThisRound.add(String(event.payload['sessionId']));
        }
        accepted += 1;
        this.ctx.metrics.syncEventStored(event);
        const quarantine = this.quarantineIfLate(device, revokedAt, event, correlationId);
        if (quarantine) {
          toAppend.push(quarantine);
          quarantined += 1;
        }
      }
      await newReceipts.flush();
      if (toAppend.length > 0) await this.ctx.store.append(toAppend);
      const ack = await this.contiguousAck(
        device.deviceId,
        received,
        receiptsWritten > 0 ? receivedAt : null,
      );
      return { ack, accepted, duplicates, rejected, quarantined };
    });
  }

  /** The receipts the device already holds for the round's seqs, by seq. */
  private async receiptsOf(
    deviceId: string,
    pushed: readonly SyncPushedEvent[],
  ): Promise<Map<number, string>> {
    // One primary-key probe per seq, as a subquery per element: as a join, PostgreSQL may keep a
    // plan made while the table was small, a hash join that reads all of the device's receipts.
    const rows = (await statement(
      this.ctx.store.db,
      `SELECT CAST(pushed.value AS BIGINT) AS seq,
       (SELECT receipt.event_id FROM device_event_receipts AS receipt
        WHERE receipt.device_id = ? AND receipt.seq = CAST(pushed.value AS BIGINT)) AS event_id
       FROM json_each(?) AS pushed`,
    ).all(deviceId, JSON.stringify(pushed.map(({ seq }) => seq)))) as Receipt[];
    const receipts = new Map<number, string>();
    for (const row of rows) if (row.event_id !== null) receipts.set(row.seq, row.event_id);
    return receipts;
  }

  private async refusal(
    scope: DeviceScope,
    pushed: EventEnvelope,
    tenantUsers: Map<string, boolean>,
  ): Promise<Omit<SyncRejection, 'seq'> | undefined> {
    const rule = Object.hasOwn(DEVICE_AUTHORITY, pushed.eventType)
      ? DEVICE_AUTHORITY[pushed.eventType]
      : undefined;
    if (rule === undefined) {
      return {
        code: 'event_not_allowed',
        message: `${pushed.eventType} is not an event a device may report`,
      };
    }
    const verdict = this.validator.check(pushed);
    if (!verdict.ok) return { code: 'schema_violation', message: verdict.reason };
    // The rules read the event as the projections will (upcast): an older version whose missing
    // field an upcaster fills from the envelope must not slip past the check of that field.
    const event = upcast(pushed);
    if (event.tenantId !== scope.tenantId) {
      return { code: 'tenant_mismatch', message: 'the event names another tenant than the device' };
    }
    const actorOk =
      (event.actor.type === 'device' && event.actor.id === scope.deviceId) ||
      (event.actor.type === 'user' &&
        (await this.isTenantUser(event.actor.id, scope.tenantId, tenantUsers)));
    const payloadDevice = event.payload['deviceId'];
    const payloadUser = event.payload['userId'];
    if (
      !actorOk ||
      (payloadDevice !== undefined && payloadDevice !== scope.deviceId) ||
      (typeof payloadUser === 'string' &&
        !(await this.isTenantUser(payloadUser, scope.tenantId, tenantUsers)))
    ) {
      return {
        code: 'tenant_mismatch',
        message: 'the event names a device or user outside this device and tenant',
      };
    }
    const beyond = await rule.check(scope, event);
    return beyond === undefined ? undefined : { code: 'event_not_allowed', message: beyond };
  }

  private async isTenantUser(
    userId: string,
    tenantId: string,
    known: Map<string, boolean>,
  ): Promise<boolean> {
    let member = known.get(userId);
    if (member === undefined) {
      member = await userInTenant(this.ctx.store.db, userId, tenantId);
      known.set(userId, member);
    }
    return member;
  }

  /**
   * docs/architecture.md §5: an offline sign-in from a revoked device is flagged, not dropped: the event to
   * append right after the sign-in. The time the sign-in claims is the device's word, so it is
   * judged by the CA's receipt: everything a revoked device hands over arrives after the
   * revocation, and every offline sign-in in it goes to review, back-dated or not.
   */
  private quarantineIfLate(
    device: ProvenDevice,
    revokedAt: string | null,
    event: EventEnvelope,
    correlationId: string,
  ): NewEvent | undefined {
    if (event.eventType !== 'identity.user.logged_in' || revokedAt === null) return undefined;
    if (event.payload['offline'] !== true) return undefined;
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
        deviceRevokedAt: revokedAt,
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

  /**
   * Advances the device's ack over the receipts that now follow it: cost grows with new events
   * only. `receivedAt` is set when the round wrote receipts (null keeps the last time).
   */
  private async contiguousAck(
    deviceId: string,
    received: ReadonlySet<number>,
    receivedAt: string | null,
  ): Promise<number> {
    const { db } = this.ctx.store;
    const state = (await statement(
      db,
      'SELECT acked_seq FROM device_sync_state WHERE device_id = ?',
    ).get(deviceId)) as { acked_seq: number } | undefined;
    let ack = state?.acked_seq ?? 0;
    const next = statement(
      db,
      'SELECT 1 FROM device_event_receipts WHERE device_id = ? AND seq = ?',
    );
    // The round's own seqs are known to have receipts; only the ones beyond it are looked up.
    while (received.has(ack + 1) || (await next.get(deviceId, ack + 1))) ack += 1;
    await statement(
      db,
      `INSERT INTO device_sync_state (device_id, acked_seq, last_received_at) VALUES (?, ?, ?)
       ON CONFLICT (device_id) DO UPDATE SET acked_seq = excluded.acked_seq,
       last_received_at = COALESCE(excluded.last_received_at, device_sync_state.last_received_at)`,
    ).run(deviceId, ack, receivedAt);
    return ack;
  }

  /**
   * The time token binds the whole answer to this request: `nonce` is the proof's jti, `answer`
   * the digest of everything else in the answer, `head` the tenant's feed head. An older signed
   * page or key set spliced into a fresh answer, or a whole answer replayed, is refused.
   */
  private async signedTime(
    device: ProvenDevice,
    binding: { answer: string; head: number },
  ): Promise<string> {
    const iat = Math.floor(this.ctx.clock.now() / 1000);
    const claims: ServerTimeClaims = {
      typ: 'time',
      iss: this.ctx.publicUrl,
      // Signed, so an agent learns where the CA is reached now without trusting the wire.
      urls: [...this.ctx.publicUrls],
      aud: device.deviceId,
      iat,
      exp: iat + 300,
      nonce: device.jti,
      ...binding,
    };
    const key = { issuingPem: this.ctx.ca.issuingPem, signer: this.ctx.ca.authority.signer };
    return caSignedJws(key, SERVER_TIME_TYP, claims);
  }
}
