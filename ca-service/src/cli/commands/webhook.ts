import { optionalString, requireString } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import { adminCommand } from '../admin-command.js';
import { idArgument } from '../command-kit.js';

type Subscription = {
  subscriptionId: string;
  url: string;
  eventTypes: string[];
  secret?: string;
};
type Delivery = {
  deliveryId: string;
  eventType: string;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
};

export const webhookCommands: Command[] = [
  adminCommand({
    path: ['webhook', 'create'],
    summary: 'Subscribe an HTTPS endpoint to event types (signing secret shown once)',
    usage:
      'webhook create --endpoint https://… --events TYPE,TYPE [--tenant T] [--url U] [--data-dir D]',
    options: {
      endpoint: { type: 'string' },
      events: { type: 'string' },
      tenant: { type: 'string' },
    },
    async run(connect, values) {
      const tenant = optionalString(values, 'tenant');
      const created = await connect().request<Subscription>('POST', '/v1/admin/webhooks', {
        url: requireString(values, 'endpoint'),
        eventTypes: requireString(values, 'events')
          .split(',')
          .map((type) => type.trim()),
        ...(tenant ? { tenant } : {}),
      });
      return {
        json: created,
        human: `webhook ${created.subscriptionId} → ${created.url}\n  signing secret (shown once, store it now): ${created.secret ?? ''}`,
      };
    },
  }),
  adminCommand({
    path: ['webhook', 'list'],
    summary: "List a tenant's webhook subscriptions",
    usage: 'webhook list [--tenant T] [--data-dir D]',
    options: { tenant: { type: 'string' } },
    async run(connect, values) {
      const tenant = optionalString(values, 'tenant');
      const answer = await connect().request<{ webhooks: Subscription[] }>(
        'GET',
        `/v1/admin/webhooks${tenant ? `?tenant=${encodeURIComponent(tenant)}` : ''}`,
      );
      return {
        json: answer,
        human: answer.webhooks
          .map((hook) => `${hook.subscriptionId}  ${hook.url}  ${hook.eventTypes.join(',')}`)
          .join('\n'),
      };
    },
  }),
  adminCommand({
    path: ['webhook', 'delete'],
    summary: 'Delete a webhook subscription (pending retries are dropped)',
    usage: 'webhook delete WEBHOOK_ID [--data-dir D]',
    options: {},
    async run(connect, _values, positionals) {
      const id = idArgument(positionals, 'whk');
      const answer = await connect().request<Subscription>(
        'POST',
        `/v1/admin/webhooks/${encodeURIComponent(id)}/delete`,
        {},
      );
      return { json: answer, human: `webhook ${id} deleted` };
    },
  }),
  adminCommand({
    path: ['webhook', 'deliveries'],
    summary: 'Show the delivery log of a webhook subscription',
    usage: 'webhook deliveries WEBHOOK_ID [--data-dir D]',
    options: {},
    async run(connect, _values, positionals) {
      const id = idArgument(positionals, 'whk');
      const answer = await connect().request<{ deliveries: Delivery[] }>(
        'GET',
        `/v1/admin/webhooks/${encodeURIComponent(id)}/deliveries`,
      );
      return {
        json: answer,
        human: answer.deliveries
          .map(
            (d) =>
              `${d.deliveryId}  ${d.eventType}  ${d.status}  attempts=${d.attempts}${d.lastError ? `  ${d.lastError}` : ''}`,
          )
          .join('\n'),
      };
    },
  }),
  adminCommand({
    path: ['webhook', 'redeliver'],
    summary: 'Send a webhook delivery again',
    usage: 'webhook redeliver DELIVERY_ID [--data-dir D]',
    options: {},
    async run(connect, _values, positionals) {
      const id = idArgument(positionals, 'dlv');
      const answer = await connect().request<Delivery>(
        'POST',
        `/v1/admin/webhooks/deliveries/${encodeURIComponent(id)}/redeliver`,
        {},
      );
      return { json: answer, human: `delivery ${id} queued again` };
    },
  }),
];
