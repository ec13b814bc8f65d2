import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import { listDeliveries, redeliver } from '../webhooks/webhook-deliveries.js';
import type { WebhookSettings } from '../webhooks/webhook-subscriptions.js';
import {
  createSubscription,
  deleteSubscription,
  listSubscriptions,
} from '../webhooks/webhook-subscriptions.js';
import { idParam, tenantQuery } from './schemas.js';

/** Webhook subscriptions of a tenant, their delivery log, and replays. */
export function webhookRoutes(ctx: CaContext, settings: WebhookSettings): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.post(
      '/v1/admin/webhooks',
      {
        config: { scope: 'admin', tenant: 'body' },
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['url', 'eventTypes'],
            properties: {
              tenant: { type: 'string', minLength: 1, maxLength: 100 },
              url: { type: 'string', minLength: 1, maxLength: 2048 },
              eventTypes: {
                type: 'array',
                minItems: 1,
                maxItems: 100,
                uniqueItems: true,
                items: { type: 'string', minLength: 1, maxLength: 100 },
              },
            },
          },
        },
      },
      async (request, reply) => {
        const created = await createSubscription(
          ctx,
          {
            tenantId: request.admin.namedTenant(),
            url: request.body.url,
            eventTypes: [...request.body.eventTypes],
          },
          settings,
          request.admin.meta,
        );
        return reply.status(201).send(created);
      },
    );
    app.get(
      '/v1/admin/webhooks',
      { config: { scope: 'events:read', tenant: 'query' }, schema: { querystring: tenantQuery } },
      async (request) => ({ webhooks: await listSubscriptions(ctx, request.admin.namedTenant()) }),
    );
    app.post(
      '/v1/admin/webhooks/:id/delete',
      { config: { scope: 'admin' }, schema: { params: idParam('whk') } },
      async (request) =>
        deleteSubscription(ctx, request.params.id, request.admin.tenantId, request.admin.meta),
    );
    app.get(
      '/v1/admin/webhooks/:id/deliveries',
      {
        config: { scope: 'events:read' },
        schema: {
          params: idParam('whk'),
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 } },
          },
        },
      },
      async (request) => ({
        deliveries: await listDeliveries(
          ctx,
          request.params.id,
          request.admin.tenantId,
          request.query.limit ?? 100,
        ),
      }),
    );
    app.post(
      '/v1/admin/webhooks/deliveries/:id/redeliver',
      { config: { scope: 'admin' }, schema: { params: idParam('dlv') } },
      async (request) => redeliver(ctx, request.params.id, request.admin.tenantId),
    );
  };
}
