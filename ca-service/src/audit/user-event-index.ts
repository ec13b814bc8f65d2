import type { Clock } from '@lantern/shared';
import type { EventStore, RecordedEvent } from '../store/event-store.js';
import { Cursor } from '../store/cursor.js';

const CURSOR = 'user_events';
const BATCH = 1000;
const USER_ID = /^usr_[0-9A-HJKMNP-TV-Z]{26}$/;

/** Every user id an event is about: its aggregate, its actor, any user id in its payload. */
function usersNamedBy(event: RecordedEvent): Set<string> {
  const users = new Set<string>();
  if (event.aggregateType === 'user') users.add(event.aggregateId);
  if (event.actor.type === 'user') users.add(event.actor.id);
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      if (USER_ID.test(value)) users.add(value);
    } else if (Array.isArray(value)) value.forEach(visit);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(visit);
  };
  visit(event.payload);
  return users;
}

/**
 * Side index (user → positions) behind per-user timelines and subject-access exports. It follows
 * the log with its own cursor and catches up before every read, so it needs no hook in the
 * append path and fills itself on a store that predates it.
 */
export class UserEventIndex {
  constructor(
    private readonly store: EventStore,
    private readonly clock: Clock,
  ) {}

  /**
   * Indexes the events appended since the last call, a batch per transaction; at most
   * `maxBatches` batches, so a background caller never holds the event loop for long. Returns
   * whether the index reached the head.
   */
  async catchUp(maxBatches = Number.POSITIVE_INFINITY): Promise<boolean> {
    const { db } = this.store;
    const insert = db.prepare(
      'INSERT INTO user_events (user_id, position, tenant_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    );
    for (let batches = 0; batches < maxBatches; batches += 1) {
      const indexed = await this.store.transaction(async () => {
        const after = await Cursor.read(db, CURSOR);
        const batch = await this.store.read({ after, limit: BATCH });
        const last = batch.at(-1);
        if (!last) return 0;
        for (const event of batch) {
          for (const userId of usersNamedBy(event))
            await insert.run(userId, event.position, event.tenantId);
        }
        await Cursor.write(db, CURSOR, last.position, new Date(this.clock.now()).toISOString());
        return batch.length;
      });
      if (indexed < BATCH) return true;
    }
    return false;
  }

  /** The user's events in the tenant, oldest first, after `after`. */
  async timeline(
    userId: string,
    tenantId: string,
    page: { after?: number; limit?: number } = {},
  ): Promise<RecordedEvent[]> {
    await this.catchUp();
    const positions = (await this.store.db
      .prepare(
        `SELECT position FROM user_events WHERE user_id = ? AND tenant_id = ? AND position > ?
         ORDER BY position LIMIT ?`,
      )
      .all(userId, tenantId, page.after ?? 0, Math.min(page.limit ?? 100, 10_000))) as {
      position: number;
    }[];
    const events: RecordedEvent[] = [];
    for (const { position } of positions) {
      events.push(...(await this.store.read({ after: position - 1, limit: 1 })));
    }
    return events;
  }
}
