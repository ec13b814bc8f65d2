import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import { Readable } from 'node:stream';
import { UserEventIndex } from '../audit/user-event-index.js';
import type { CaContext } from '../context/ca-context.js';
import { UserNotFoundError } from '../errors.js';
import type { EventQuery, RecordedEvent } from '../store/event-store.js';
import { findUserById } from '../users/users.js';
import { isQuarantined } from '../sync/quarantine-projection.js';

const ID = '^[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}$';
const EXPORT_BATCH = 1000;

const FILTERS = {
  tenant: { type: 'string', minLength: 1, maxLength: 100 },
  after: { type: 'integer', minimum: 0 },
  type: { type: 'string', pattern: '^[a-z_.]+$', maxLength: 128 },
  aggregate: { type: 'string', pattern: '^[a-z_]+$', maxLength: 64 },
  aggregateId: { type: 'string', pattern: ID },
  actor: { type: 'string', minLength: 1, maxLength: 64 },
  device: { type: 'string', pattern: '^dev_[0-9A-HJKMNP-TV-Z]{26}$' },
  from: { type: 'string', format: 'date-time' },
  to: { type: 'string', format: 'date-time' },
} as const;

const COPIED: [keyof EventQuery, string][] = [
  ['after', 'after'],
  ['eventType', 'type'],
  ['aggregateType', 'aggregate'],
  ['aggregateId', 'aggregateId'],
  ['actorId', 'actor'],
  ['deviceId', 'device'],
  ['from', 'from'],
  ['to', 'to'],
];

type Filters = Partial<Record<string, string | number>>;

/**
 * The event API (docs/architecture.md §6 Audit): filtered pages, per-user timelines and an NDJSON export, each
 * limited to one tenant and the `events:read` scope.
 */
export function eventRoutes(ctx: CaContext): FastifyPluginAsync {
  const timelines = new UserEventIndex(ctx.store, ctx.clock);
  const quarantined = async (events: RecordedEvent[]) => {
    const marked: (RecordedEvent & { quarantined: boolean })[] = [];
    for (const event of events) {
      marked.push({ ...event, quarantined: await isQuarantined(ctx.store.db, event.eventId) });
    }
    return marked;
  };
  const filterOf = (tenantId: string, query: Filters): EventQuery => {
    const filter: EventQuery = { tenantId };
    for (const [key, param] of COPIED) {
      if (query[param] !== undefined) Object.assign(filter, { [key]: query[param] });
    }
    return filter;
  };

  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.get(
      '/v1/events',
      {
        config: { scope: 'events:read', tenant: 'query' },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { ...FILTERS, limit: { type: 'integer', minimum: 1, maximum: 1000 } },
          },
        },
      },
      async (request) => {
        const filter = filterOf(request.admin.namedTenant(), request.query);
        filter.limit = request.query.limit ?? 100;
        const events = await ctx.store.read(filter);
        return {
          events: await quarantined(events),
          next: events.at(-1)?.position ?? filter.after ?? 0,
        };
      },
    );

    app.get(
      '/v1/events/export',
      {
        config: { scope: 'events:read', tenant: 'query' },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { ...FILTERS, limit: { type: 'integer', minimum: 1 } },
          },
        },
      },
      async (request, reply) => {
        const filter = filterOf(request.admin.namedTenant(), request.query);
        const { limit } = request.query;
        // Read a batch at a time as the client drains the response: an export of the whole log
        // never sits in memory, and appends carry on between batches.
        async function* lines(): AsyncGenerator<string> {
          let after = filter.after ?? 0;
          let left = limit ?? Number.POSITIVE_INFINITY;
          while (left > 0) {
            const batch = await ctx.store.read({
              ...filter,
              after,
              limit: Math.min(EXPORT_BATCH, left),
            });
            if (batch.length === 0) return;
            yield (await quarantined(batch)).map((event) => `${JSON.stringify(event)}\n`).join('');
            left -= batch.length;
            after = batch.at(-1)?.position ?? after;
          }
        }
        return reply
          .type('application/x-ndjson')
          .header('content-disposition', 'attachment; filename="events.ndjson"')
          .send(Readable.from(lines()));
      },
    );

    app.get(
      '/v1/users/:id/timeline',
      {
        config: { scope: 'events:read', tenant: 'query' },
        schema: {
          params: {
            type: 'object',
            additionalProperties: false,
            required: ['id'],
            properties: { id: { type: 'string', pattern: '^usr_[0-9A-HJKMNP-TV-Z]{26}$' } },
          },
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              tenant: FILTERS.tenant,
              after: FILTERS.after,
              limit: { type: 'integer', minimum: 1, maximum: 1000 },
            },
          },
        },
      },
      async (request) => {
        const tenantId = request.admin.namedTenant();
        const userId = request.params.id;
        const { query } = request;
        // Erased users keep their timeline (the record of what happened stays); other tenants'
        // users do not exist here.
        const owner = await findUserById(ctx.store.db, userId);
        if (owner?.tenant_id !== tenantId) throw new UserNotFoundError();
        const after = query.after ?? 0;
        const events = await timelines.timeline(userId, tenantId, {
          after,
          limit: query.limit ?? 100,
        });
        return {
          userId,
          events: await quarantined(events),
          next: events.at(-1)?.position ?? after,
        };
      },
    );
  };
}
