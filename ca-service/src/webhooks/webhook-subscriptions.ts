import { EVENT_CATALOGUE } from '@lantern/shared';
import { randomBytes } from 'node:crypto';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import {
  WebhookEventTypeUnknownError,
  WebhookNotFoundError,
  WebhookUrlNotAllowedError,
} from '../errors.js';
import { addressAllowed, ipOfHost } from './endpoint-address.js';

export interface WebhookSettings {
  /**
   * Accept `http://127.0.0.1` / `http://localhost` endpoints (`--webhooks-allow-loopback-http`):
   * for tests and development only; everywhere else an endpoint must be https.
   */
  allowLoopbackHttp: boolean;
}

export interface WebhookSubscriptionView {
  subscriptionId: string;
  tenantId: string;
  url: string;
  eventTypes: string[];
  status: 'active' | 'deleted';
  createdAt: string;
}

export interface SubscriptionRow {
  subscription_id: string;
  tenant_id: string;
  url: string;
  event_types: string;
  sealed_secret: string;
  status: 'active' | 'deleted';
  after_position: number;
  created_at: string;
  deleted_at: string | null;
}

export const toSubscriptionView = (row: SubscriptionRow): WebhookSubscriptionView => ({
  subscriptionId: row.subscription_id,
  tenantId: row.tenant_id,
  url: row.url,
  eventTypes: JSON.parse(row.event_types) as string[],
  status: row.status,
  createdAt: row.created_at,
});

export const secretAad = (subscriptionId: string): string => `webhook:${subscriptionId}`;

const PRODUCED_TYPES = new Set(
  EVENT_CATALOGUE.filter((definition) => definition.direction === 'produced').map(
    (definition) => definition.type,
  ),
);

export function checkEndpoint(url: string, settings: WebhookSettings): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WebhookUrlNotAllowedError('the endpoint is not a URL');
  }
  if (parsed.username !== '' || parsed.password !== '')
    throw new WebhookUrlNotAllowedError('the endpoint must not carry credentials in its URL');
  const loopback = parsed.hostname === '127.0.0.1' || parsed.hostname === 'localhost';
  if (parsed.protocol === 'http:' && loopback && settings.allowLoopbackHttp) return;
  if (parsed.protocol !== 'https:') throw new WebhookUrlNotAllowedError();
  // The CA's own network is no endpoint (SSRF); a name is checked again when delivering.
  const ip = ipOfHost(parsed.hostname);
  if (parsed.hostname === 'localhost' || (ip !== undefined && !addressAllowed(ip, false)))
    throw new WebhookUrlNotAllowedError('the endpoint must be a public address');
}

/**
 * Subscribes an endpoint of the tenant to event types and returns the signing secret, once: the
 * CA keeps it sealed under its secret box, since it must sign with it again.
 */
export function createSubscription(
  ctx: Pick<CaContext, 'clock' | 'ids' | 'store' | 'secretBox'>,
  input: { tenantId: string; url: string; eventTypes: string[] },
  settings: WebhookSettings,
  meta: CommandMeta,
): Promise<WebhookSubscriptionView & { secret: string }> {
  checkEndpoint(input.url, settings);
  const unknown = input.eventTypes.find((type) => !PRODUCED_TYPES.has(type));
  if (unknown !== undefined)
    throw new WebhookEventTypeUnknownError(`"${unknown}" is not a produced event type`);
  const subscriptionId = ctx.ids.next('whk');
  const secret = `whsec_${randomBytes(32).toString('base64url')}`;
  const now = isoNow(ctx.clock);
  return ctx.store.transaction(async () => {
    await ctx.store.append([
      {
        eventType: 'identity.webhook.subscribed',
        aggregateId: subscriptionId,
        expectedVersion: 0,
        tenantId: input.tenantId,
        ...meta,
        payload: { subscriptionId, url: input.url, eventTypes: input.eventTypes },
      },
    ]);
    await ctx.store.db
      .prepare(
        `INSERT INTO webhook_subscriptions (subscription_id, tenant_id, url, event_types, sealed_secret,
         status, after_position, created_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?)`,
      )
      .run(
        subscriptionId,
        input.tenantId,
        input.url,
        JSON.stringify(input.eventTypes),
        ctx.secretBox.seal(Buffer.from(secret, 'utf8'), secretAad(subscriptionId)),
        await ctx.store.headPosition(),
        now,
      );
    return {
      ...toSubscriptionView(await getSubscription(ctx, subscriptionId, input.tenantId)),
      secret,
    };
  });
}

/** Another tenant's subscription is not found. */
export async function getSubscription(
  ctx: Pick<CaContext, 'store'>,
  subscriptionId: string,
  tenantId: string | null,
): Promise<SubscriptionRow> {
  const row = (await ctx.store.db
    .prepare('SELECT * FROM webhook_subscriptions WHERE subscription_id = ?')
    .get(subscriptionId)) as SubscriptionRow | undefined;
  if (!row || (tenantId !== null && row.tenant_id !== tenantId)) throw new WebhookNotFoundError();
  return row;
}

export async function listSubscriptions(
  ctx: Pick<CaContext, 'store'>,
  tenantId: string | null,
): Promise<WebhookSubscriptionView[]> {
  const rows = (await (
    tenantId === null
      ? ctx.store.db.prepare(
          "SELECT * FROM webhook_subscriptions WHERE status = 'active' ORDER BY created_at",
        )
      : ctx.store.db.prepare(
          "SELECT * FROM webhook_subscriptions WHERE tenant_id = ? AND status = 'active' ORDER BY created_at",
        )
  ).all(...(tenantId === null ? [] : [tenantId]))) as SubscriptionRow[];
  return rows.map(toSubscriptionView);
}

/** Stops deliveries to the endpoint, including those waiting for a retry. */
export function deleteSubscription(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  subscriptionId: string,
  tenantId: string | null,
  meta: CommandMeta,
): Promise<WebhookSubscriptionView> {
  return ctx.store.transaction(async () => {
    const row = await getSubscription(ctx, subscriptionId, tenantId);
    if (row.status !== 'active') throw new WebhookNotFoundError();
    const now = isoNow(ctx.clock);
    await ctx.store.append([
      {
        eventType: 'identity.webhook.unsubscribed',
        aggregateId: subscriptionId,
        tenantId: row.tenant_id,
        ...meta,
        payload: { subscriptionId },
      },
    ]);
    await ctx.store.db
      .prepare(
        "UPDATE webhook_subscriptions SET status = 'deleted', deleted_at = ? WHERE subscription_id = ?",
      )
      .run(now, subscriptionId);
    await ctx.store.db
      .prepare(
        "UPDATE webhook_deliveries SET status = 'canceled' WHERE subscription_id = ? AND status = 'pending'",
      )
      .run(subscriptionId);
    return toSubscriptionView(await getSubscription(ctx, subscriptionId, null));
  });
}
