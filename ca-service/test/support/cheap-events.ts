import type { CaContext } from '../../src/context/ca-context.js';

/**
 * `count` small valid events (`identity.user.reactivated` of fresh user ids) appended in one
 * transaction: bulk for the relay, the audit chain and the event API, without the cost of real
 * commands.
 */
export async function appendCheapEvents(
  ctx: Pick<CaContext, 'ids' | 'store'>,
  tenantId: string,
  count: number,
  { correlationId = 'cheap-events', actorId = 'test' } = {},
): Promise<void> {
  await ctx.store.append(
    Array.from({ length: count }, () => {
      const userId = ctx.ids.next('usr');
      return {
        eventType: 'identity.user.reactivated',
        aggregateId: userId,
        tenantId,
        actor: { type: 'system' as const, id: actorId },
        correlationId,
        payload: { userId },
      };
    }),
  );
}

/** Every event id in the store, in position order. */
export async function storeEventIds(ctx: Pick<CaContext, 'store'>): Promise<string[]> {
  return (
    (await ctx.store.db.prepare('SELECT event_id FROM events ORDER BY position').all()) as {
      event_id: string;
    }[]
  ).map((row) => row.event_id);
}
