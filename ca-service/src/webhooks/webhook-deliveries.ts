import type { CaContext } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { WebhookNotFoundError } from '../errors.js';
import { getSubscription } from './webhook-subscriptions.js';

export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'canceled';

export interface DeliveryRow {
  delivery_id: string;
  subscription_id: string;
  tenant_id: string;
  event_id: string;
  event_type: string;
  position: number;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
}

export interface DeliveryView {
  deliveryId: string;
  subscriptionId: string;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

export const toDeliveryView = (row: DeliveryRow): DeliveryView => ({
  deliveryId: row.delivery_id,
  subscriptionId: row.subscription_id,
  eventId: row.event_id,
  eventType: row.event_type,
  status: row.status,
  attempts: row.attempts,
  nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
  lastStatusCode: row.last_status_code,
  lastError: row.last_error,
  deliveredAt: row.delivered_at,
  createdAt: row.created_at,
});

/** The delivery log of one subscription, newest first. */
export async function listDeliveries(
  ctx: Pick<CaContext, 'store'>,
  subscriptionId: string,
  tenantId: string | null,
  limit = 100,
): Promise<DeliveryView[]> {
  await getSubscription(ctx, subscriptionId, tenantId);
  return (
    (await ctx.store.db
      .prepare(
        'SELECT * FROM webhook_deliveries WHERE subscription_id = ? ORDER BY position DESC LIMIT ?',
      )
      .all(subscriptionId, limit)) as DeliveryRow[]
  ).map(toDeliveryView);
}

/**
 * Sends a delivery again, whatever became of it (an admin replays a failed one, or one the
 * receiver lost): it goes back in the queue with a fresh retry budget.
 */
export function redeliver(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  deliveryId: string,
  tenantId: string | null,
): Promise<DeliveryView> {
  return ctx.store.transaction(async () => {
    const row = (await ctx.store.db
      .prepare('SELECT * FROM webhook_deliveries WHERE delivery_id = ?')
      .get(deliveryId)) as DeliveryRow | undefined;
    if (!row || (tenantId !== null && row.tenant_id !== tenantId)) throw new WebhookNotFoundError();
    const subscription = await getSubscription(ctx, row.subscription_id, tenantId);
    if (subscription.status !== 'active')
      throw new WebhookNotFoundError('the subscription was deleted');
    await ctx.store.db
      .prepare(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE delivery_id = ?",
      )
      .run(isoNow(ctx.clock), deliveryId);
    return toDeliveryView(
      (await ctx.store.db
        .prepare('SELECT * FROM webhook_deliveries WHERE delivery_id = ?')
        .get(deliveryId)) as DeliveryRow,
    );
  });
}
