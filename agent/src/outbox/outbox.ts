import type { Actor, EventEnvelope, IdGenerator, SyncRejection } from '@lantern/shared';
import { EventValidator, createIdGenerator } from '@lantern/shared';
import { OutboxAckOutOfRangeError } from '../errors.js';
import type { AgentStore } from '../store/agent-store.js';
import type { TrustedTime } from '../time/trusted-time.js';
import { statement } from '../store/statements.js';

/** Who this device is; events carry it as tenant and default actor. */
export interface OutboxIdentity {
  deviceId: string;
  tenantId: string;
}

export interface OutboxEventInput {
  eventType: string;
  /** Defaults to 1. */
  eventVersion?: number;
  payload: Record<string, unknown>;
  /** Defaults to the device itself. */
  actor?: Actor;
  /** Defaults to the new event's id: the event starts its own chain. */
  correlationId?: string;
  causationId?: string;
  /** Defaults to the device id, so the server keeps one device's events in order. */
  partitionKey?: string;
}

export interface OutboxEntry {
  /** Per-device sequence number: 1, 2, 3 … never reused, never skipped. */
  seq: number;
  envelope: EventEnvelope;
  createdAt: number;
}

export interface OutboxHead {
  /** Highest sequence ever assigned (0 when none). */
  lastSeq: number;
  /** Every event with a sequence up to this one has been acked. */
  ackedSeq: number;
}

export interface OutboxOptions {
  identity: OutboxIdentity;
  trustedTime: TrustedTime;
  /** Compiling the schemas is slow; share one validator per process. */
  validator?: EventValidator;
  ids?: IdGenerator;
}

interface OutboxRow {
  seq: number;
  envelopeJson: string;
  createdAt: number;
}

/**
 * The agent's outbox (docs/architecture.md §5, invariant 3). Events are validated when produced, then
 * written in the caller's transaction: a sign-in's session row and its event commit together
 * or not at all. The sequence counter lives in `outbox_state`, so deleting acked rows never
 * lets a number come back: the server de-duplicates by (device, sequence), and a reused number
 * would silently drop a new event.
 */
export class Outbox {
  private readonly identity: OutboxIdentity;
  private readonly trustedTime: TrustedTime;
  private readonly validator: EventValidator;
  private readonly ids: IdGenerator;

  constructor(
    private readonly store: AgentStore,
    options: OutboxOptions,
  ) {
    this.identity = { ...options.identity };
    this.trustedTime = options.trustedTime;
    this.validator = options.validator ?? new EventValidator();
    this.ids = options.ids ?? createIdGenerator(store.clock);
  }

  /** The device and tenant this outbox records events for (payloads that name them too). */
  get recordedFor(): Readonly<OutboxIdentity> {
    return this.identity;
  }

  /** Throws `schema_violation` or `unknown_event_type`, before anything is written. */
  append(input: OutboxEventInput): OutboxEntry {
    const eventId = this.ids.next('evt');
    const createdAt = this.trustedTime.trustedNow();
    const envelope: EventEnvelope = {
      eventId,
      eventType: input.eventType,
      eventVersion: input.eventVersion ?? 1,
      occurredAt: new Date(createdAt).toISOString(),
      tenantId: this.identity.tenantId,
      actor: input.actor ?? { type: 'device', id: this.identity.deviceId },
      correlationId: input.correlationId ?? eventId,
      ...(input.causationId === undefined ? {} : { causationId: input.causationId }),
      partitionKey: input.partitionKey ?? this.identity.deviceId,
      payload: input.payload,
    };
    this.validator.assertValid(envelope);
    const json = JSON.stringify(envelope);
    const seq = this.store.transaction(() => {
      const next = statement<[], { seq: number }>(
        this.store.db,
        'UPDATE outbox_state SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq AS seq',
      ).get();
      if (!next) throw new Error('outbox_state row missing: the store was not migrated');
      statement<[number, string, string, string, number]>(
        this.store.db,
        `INSERT INTO outbox (seq, event_id, event_type, envelope_json, created_at)
           VALUES (?, ?, ?, ?, ?)`,
      ).run(next.seq, eventId, envelope.eventType, json, createdAt);
      return next.seq;
    });
    return { seq, envelope: JSON.parse(json) as EventEnvelope, createdAt };
  }

  /** Unacked events in sequence order: what the next sync round pushes. */
  pending(limit: number): OutboxEntry[] {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError('limit must be a positive integer');
    }
    return statement<[number], OutboxRow>(
      this.store.db,
      `SELECT seq, envelope_json AS envelopeJson, created_at AS createdAt
         FROM outbox WHERE acked = 0 ORDER BY seq LIMIT ?`,
    )
      .all(limit)
      .map((row) => ({
        seq: row.seq,
        envelope: JSON.parse(row.envelopeJson) as EventEnvelope,
        createdAt: row.createdAt,
      }));
  }

  /**
   * Marks every event up to `upToSeq` acked and returns how many were newly acked. Acking the
   * same or a lower sequence again is a no-op (lost responses get retried); a sequence never
   * assigned is `outbox_ack_out_of_range`.
   */
  ack(upToSeq: number): number {
    if (!Number.isSafeInteger(upToSeq) || upToSeq < 0) {
      throw new OutboxAckOutOfRangeError(`cannot ack sequence ${upToSeq}`);
    }
    return this.store.transaction(() => {
      const { lastSeq, ackedSeq } = this.head();
      if (upToSeq > lastSeq) {
        throw new OutboxAckOutOfRangeError(
          `ack of sequence ${upToSeq}, but the highest assigned is ${lastSeq}`,
        );
      }
      if (upToSeq <= ackedSeq) return 0;
      const { changes } = statement<[number, number]>(
        this.store.db,
        'UPDATE outbox SET acked = 1, acked_at = ? WHERE seq <= ? AND acked = 0',
      ).run(this.trustedTime.trustedNow(), upToSeq);
      statement<[number]>(this.store.db, 'UPDATE outbox_state SET acked_seq = ? WHERE id = 1').run(
        upToSeq,
      );
      return changes;
    });
  }

  /** Keeps the CA's refusal beside each event it refused for good (and acked), for inspection. */
  recordRejections(rejections: readonly SyncRejection<string>[]): void {
    const reject = this.store.db.prepare<[string, string, number]>(
      'UPDATE outbox SET rejected_code = ?, rejected_message = ? WHERE seq = ?',
    );
    for (const { seq, code, message } of rejections) reject.run(code, message, seq);
  }

  /** Number of events not yet acked (the `identity_*` outbox depth metric). */
  depth(): number {
    const row = statement<[], { depth: number }>(
      this.store.db,
      'SELECT count(*) AS depth FROM outbox WHERE acked = 0',
    ).get();
    return row?.depth ?? 0;
  }

  head(): OutboxHead {
    const row = statement<[], OutboxHead>(
      this.store.db,
      'SELECT last_seq AS lastSeq, acked_seq AS ackedSeq FROM outbox_state WHERE id = 1',
    ).get();
    if (!row) throw new Error('outbox_state row missing: the store was not migrated');
    return row;
  }

  /** Deletes acked rows; returns how many. Sequence numbers carry on from `head().lastSeq`. */
  prune(): number {
    return statement(this.store.db, 'DELETE FROM outbox WHERE acked = 1').run().changes;
  }
}
