import type { Actor, EventEnvelope } from '@lantern/shared';
import { EventValidator, eventSubject } from '@lantern/shared';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { SYSTEM_TENANT_ID, isoNow } from '../context/ca-context.js';
import { tenantExists } from '../tenants/tenant-commands.js';
import { sealPersonalData } from '../users/personal-data.js';
import { findUserByName } from '../users/users.js';
import { SubjectRequests } from './subject-requests.js';

export const USER_INVITED = 'tenant.org.user_invited.v1';
export const SUBJECT_REQUEST_RECEIVED = 'gdpr.subject_request.received.v1';
/** The subjects the CA consumes (docs/architecture.md §6 Inbox). */
export const INBOX_SUBJECTS = [USER_INVITED, SUBJECT_REQUEST_RECEIVED] as const;

/** Who the events the inbox appends are recorded as; their causation id names the message. */
export const INBOX_ACTOR: Actor = { type: 'system', id: 'inbox' };

export type Decoded = { ok: true; envelope: EventEnvelope } | { ok: false; reason: string };

export type InboxOutcome =
  'duplicate' | 'user_created' | 'user_exists' | 'completed' | 'subject_not_found';

/**
 * The broker-free half of the inbox: decides whether a message is acceptable (a schema-valid
 * envelope of an event the CA consumes, on its own subject, for an existing tenant) and applies
 * it. The effect and the `inbox_processed` row commit together, so a redelivery, before or after
 * a crash, finds the row and does nothing.
 */
export class InboxProcessor {
  private readonly validator = new EventValidator();
  private readonly subjectRequests: SubjectRequests;

  constructor(private readonly ctx: Pick<CaContext, 'clock' | 'ids' | 'store'>) {
    this.subjectRequests = new SubjectRequests(ctx);
  }

  async decode(subject: string, data: Uint8Array): Promise<Decoded> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(data).toString('utf8'));
    } catch {
      return { ok: false, reason: 'the body is not JSON' };
    }
    const verdict = this.validator.check(parsed);
    if (!verdict.ok) return { ok: false, reason: verdict.reason };
    const envelope = parsed as EventEnvelope;
    const own = eventSubject(envelope.eventType, envelope.eventVersion);
    if (own !== subject) return { ok: false, reason: `a ${own} event arrived on ${subject}` };
    if (!(INBOX_SUBJECTS as readonly string[]).includes(own))
      return { ok: false, reason: `${own} is not an event the CA consumes` };
    const tenant =
      envelope.tenantId !== SYSTEM_TENANT_ID &&
      (await tenantExists(this.ctx.store.db, envelope.tenantId));
    if (!tenant) return { ok: false, reason: `tenant ${envelope.tenantId} does not exist` };
    return { ok: true, envelope };
  }

  process(envelope: EventEnvelope): Promise<InboxOutcome> {
    const { db } = this.ctx.store;
    return this.ctx.store.transaction(async () => {
      if (
        await db.prepare('SELECT 1 FROM inbox_processed WHERE event_id = ?').get(envelope.eventId)
      )
        return 'duplicate';
      const subject = eventSubject(envelope.eventType, envelope.eventVersion);
      const outcome =
        subject === USER_INVITED
          ? await this.invite(envelope)
          : await this.subjectRequests.apply(envelope, inboxMeta(envelope));
      await db
        .prepare(
          `INSERT INTO inbox_processed (event_id, subject, tenant_id, outcome, processed_at)
         VALUES (?, ?, ?, ?, ?)`,
        )
        .run(envelope.eventId, subject, envelope.tenantId, outcome, isoNow(this.ctx.clock));
      return outcome;
    });
  }

  /** An invitation becomes a shadow user awaiting verification, unless the name is taken. */
  private async invite(envelope: EventEnvelope): Promise<InboxOutcome> {
    const invite = envelope.payload as { username: string; role: string; email?: string };
    if (await findUserByName(this.ctx.store.db, envelope.tenantId, invite.username))
      return 'user_exists';
    const userId = this.ctx.ids.next('usr');
    await this.ctx.store.append([
      {
        eventType: 'identity.user.registered',
        eventVersion: 3,
        aggregateId: userId,
        expectedVersion: 0,
        tenantId: envelope.tenantId,
        ...inboxMeta(envelope),
        causationId: envelope.eventId,
        payload: {
          userId,
          role: invite.role,
          status: 'pending_verification',
          emailVerified: false,
          homeTenantId: envelope.tenantId,
          registrationSource: 'invite',
          createdAt: isoNow(this.ctx.clock),
          personalData: await sealPersonalData(
            this.ctx.store.db,
            userId,
            {
              username: invite.username,
              ...(invite.email === undefined ? {} : { email: invite.email }),
            },
            isoNow(this.ctx.clock),
          ),
        },
      },
    ]);
    return 'user_created';
  }
}

function inboxMeta(envelope: EventEnvelope): CommandMeta {
  return { actor: INBOX_ACTOR, correlationId: envelope.correlationId };
}
