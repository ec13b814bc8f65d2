import type { EventEnvelope } from '@lantern/shared';
import { createHash } from 'node:crypto';
import { UserEventIndex } from '../audit/user-event-index.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { applyUserAction, findUserById } from '../users/users.js';

interface SubjectRequest {
  requestId: string;
  subjectUserId: string;
  kind: 'erasure' | 'export';
}

const PAGE = 1000;

/**
 * GDPR subject requests (`gdpr.subject_request.received.v1`): erasure goes through the same
 * command as an admin's (sessions and grants revoked, credentials deleted); export gathers the
 * user's events into `subject_request_exports`. Either way the answer is recorded as
 * `gdpr.subject_request.acknowledged`, which the relay publishes. Runs inside the inbox's
 * transaction.
 */
export class SubjectRequests {
  private readonly index: UserEventIndex;

  constructor(private readonly ctx: Pick<CaContext, 'clock' | 'store'>) {
    this.index = new UserEventIndex(ctx.store, ctx.clock);
  }

  async apply(
    envelope: EventEnvelope,
    meta: CommandMeta,
  ): Promise<'completed' | 'subject_not_found'> {
    const request = envelope.payload as unknown as SubjectRequest;
    const { tenantId } = envelope;
    const found = await findUserById(this.ctx.store.db, request.subjectUserId);
    const user = found?.tenant_id === tenantId ? found : undefined;
    let answer: Record<string, unknown> = { outcome: 'subject_not_found' };
    if (user && request.kind === 'erasure') {
      if (user.status !== 'erased') {
        await applyUserAction(
          this.ctx,
          { userId: request.subjectUserId, tenantId, action: 'erase', reason: request.requestId },
          meta,
        );
      }
      answer = { outcome: 'completed' };
    } else if (user) {
      answer = { outcome: 'completed', ...(await this.export(request, tenantId)) };
    }
    await this.ctx.store.append([
      {
        eventType: 'gdpr.subject_request.acknowledged',
        aggregateId: request.subjectUserId,
        tenantId,
        ...meta,
        causationId: envelope.eventId,
        payload: {
          requestId: request.requestId,
          subjectUserId: request.subjectUserId,
          kind: request.kind,
          ...answer,
        },
      },
    ]);
    return answer['outcome'] as 'completed' | 'subject_not_found';
  }

  private async export(
    request: SubjectRequest,
    tenantId: string,
  ): Promise<{ eventCount: number; exportSha256: string }> {
    const lines: string[] = [];
    let after = 0;
    for (;;) {
      const page = await this.index.timeline(request.subjectUserId, tenantId, {
        after,
        limit: PAGE,
      });
      for (const event of page) lines.push(JSON.stringify(event));
      const last = page.at(-1);
      if (!last || page.length < PAGE) break;
      after = last.position;
    }
    const ndjson = lines.map((line) => `${line}\n`).join('');
    const sha256 = createHash('sha256').update(ndjson).digest('hex');
    await this.ctx.store.db
      .prepare(
        `INSERT INTO subject_request_exports
         (request_id, tenant_id, user_id, event_count, sha256, ndjson, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, request_id) DO UPDATE SET user_id = excluded.user_id,
           event_count = excluded.event_count, sha256 = excluded.sha256, ndjson = excluded.ndjson,
           created_at = excluded.created_at`,
      )
      .run(
        request.requestId,
        tenantId,
        request.subjectUserId,
        lines.length,
        sha256,
        ndjson,
        isoNow(this.ctx.clock),
      );
    return { eventCount: lines.length, exportSha256: sha256 };
  }
}
