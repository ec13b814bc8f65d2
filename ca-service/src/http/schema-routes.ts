import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import {
  EVENT_CATALOGUE,
  NotFoundError,
  schemaDigest,
  schemaDocument,
  schemaPath,
} from '@lantern/shared';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';

const schemaParams = {
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['eventType', 'version'],
    properties: {
      eventType: { type: 'string', pattern: '^[a-z_]+(\\.[a-z_]+){2}$', maxLength: 128 },
      version: { type: 'string', pattern: '^v[1-9][0-9]{0,3}$' },
    },
  },
} as const;

/**
 * Public: the event catalogue, so that a consumer of the IDENTITY stream (or of an NDJSON export)
 * can fetch the schema an event names and check the payload itself.
 */
export function schemaRoutes(ctx: Pick<CaContext, 'publicUrl'>): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.get('/v1/schemas', async () => ({
      schemas: EVENT_CATALOGUE.map((definition) => ({
        eventType: definition.type,
        version: definition.version,
        aggregate: definition.aggregate,
        direction: definition.direction,
        schemaUri: new URL(schemaPath(definition.type, definition.version), ctx.publicUrl).href,
        digest: schemaDigest(definition),
      })),
    }));
    app.get('/v1/schemas/:eventType/:version', { schema: schemaParams }, async (request, reply) => {
      const version = Number(request.params.version.slice(1));
      const definition = EVENT_CATALOGUE.find(
        (candidate) => candidate.type === request.params.eventType && candidate.version === version,
      );
      if (!definition) {
        throw new NotFoundError(
          `the catalogue has no ${request.params.eventType} ${request.params.version}; GET /v1/schemas lists every event type and version`,
        );
      }
      return reply
        .type('application/schema+json')
        .header('cache-control', 'public, max-age=3600')
        .send(schemaDocument(definition, ctx.publicUrl));
    });
  };
}
