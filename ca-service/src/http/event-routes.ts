import type { FastifyPluginAsync } from 'fastify';
import { authorize } from '../api-keys/api-keys.js';
import type { CaContext } from '../context/ca-context.js';
import type { EventQuery } from '../store/event-store.js';
import { adminPrincipal } from './principal.js';
import { tenantFor } from './tenant-for.js';

const ID = '^[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}$';

/** A first event API: filters by tenant, aggregate, type, actor, device and position. */
export function eventRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/v1/events',
      {
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              tenant: { type: 'string', minLength: 1, maxLength: 100 },
              after: { type: 'integer', minimum: 0 },
              limit: { type: 'integer', minimum: 1, maximum: 1000 },
              type: { type: 'string', pattern: '^[a-z_.]+$', maxLength: 128 },
              aggregate: { type: 'string', pattern: '^[a-z_]+$', maxLength: 64 },
              aggregateId: { type: 'string', pattern: ID },
              actor: { type: 'string', minLength: 1, maxLength: 64 },
              device: { type: 'string', pattern: '^dev_[0-9A-HJKMNP-TV-Z]{26}$' },
              from: { type: 'string', format: 'date-time' },
              to: { type: 'string', format: 'date-time' },
            },
          },
        },
      },
      async (request) => {
        const query = request.query as Record<string, string | number | undefined>;
        const principal = adminPrincipal(ctx, request);
        const tenantId = tenantFor(ctx, principal, query['tenant'] as string | undefined);
        authorize(principal, 'events:read', tenantId);
        const filter: EventQuery = {
          tenantId,
          limit: (query['limit'] as number | undefined) ?? 100,
        };
        const copy: [keyof EventQuery, string][] = [
          ['after', 'after'],
          ['eventType', 'type'],
          ['aggregateType', 'aggregate'],
          ['aggregateId', 'aggregateId'],
          ['actorId', 'actor'],
          ['deviceId', 'device'],
          ['from', 'from'],
          ['to', 'to'],
        ];
        for (const [key, param] of copy) {
          if (query[param] !== undefined) Object.assign(filter, { [key]: query[param] });
        }
        const events = ctx.store.read(filter);
        const quarantined = ctx.store.db.prepare(
          'SELECT 1 FROM quarantined_events WHERE event_id = ?',
        );
        return {
          events: events.map((event) => ({
            ...event,
            quarantined: quarantined.get(event.eventId) !== undefined,
          })),
          next: events.at(-1)?.position ?? filter.after ?? 0,
        };
      },
    );
  };
}
