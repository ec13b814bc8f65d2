import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import { DEVICE_REVOCATION_REASONS, getDevice, listDevices } from '../devices/devices.js';
import {
  MAX_TOKEN_TTL_SECONDS,
  createEnrollmentToken,
  listEnrollmentTokens,
  revokeEnrollmentToken,
} from '../enrollment/enrollment-tokens.js';
import { enrollmentHandout } from '../enrollment/enrollment-handout.js';
import type { CrlPublisher } from '../revocation/crl-publisher.js';
import { signedRevocationPage } from '../revocation/revocation-pages.js';
import { revokeDevice } from '../revocation/revoke-device.js';
import { createTenant, listTenants } from '../tenants/tenant-commands.js';
import { idParam, tenantQuery } from './schemas.js';

export function adminRoutes(ctx: CaContext, crls: CrlPublisher): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.post(
      '/v1/admin/tenants',
      {
        config: { scope: 'tenants:write', installationOnly: 'create tenants' },
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['name'],
            properties: {
              name: { type: 'string', minLength: 1, maxLength: 200 },
              slug: { type: 'string', pattern: '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$' },
            },
          },
        },
      },
      async (request, reply) => {
        const tenant = await createTenant(ctx, request.body, request.admin.meta);
        return reply.status(201).send(tenant);
      },
    );

    app.get('/v1/admin/tenants', { config: { scope: 'devices:read' } }, async (request) => {
      const own = request.admin.tenantId;
      const tenants = await listTenants(ctx.store.db);
      return { tenants: own === null ? tenants : tenants.filter((t) => t.tenantId === own) };
    });

    app.post(
      '/v1/admin/enrollment-tokens',
      {
        config: { scope: 'enrollment:write', tenant: 'body' },
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              tenant: { type: 'string', minLength: 1, maxLength: 100 },
              ttlSeconds: { type: 'integer', minimum: 60, maximum: MAX_TOKEN_TTL_SECONDS },
              deviceName: { type: 'string', minLength: 1, maxLength: 100 },
            },
          },
        },
      },
      async (request, reply) => {
        const { body } = request;
        const created = await createEnrollmentToken(
          ctx,
          {
            tenant: request.admin.namedTenant(),
            ttlSeconds: body.ttlSeconds ?? 3600,
            ...(body.deviceName ? { deviceName: body.deviceName } : {}),
          },
          request.admin.meta,
        );
        return reply.status(201).send({ ...created, ...enrollmentHandout(ctx, created.token) });
      },
    );

    app.get(
      '/v1/admin/enrollment-tokens',
      { config: { scope: 'devices:read', tenant: 'query' }, schema: { querystring: tenantQuery } },
      async (request) => ({ tokens: await listEnrollmentTokens(ctx, request.admin.namedTenant()) }),
    );

    app.post(
      '/v1/admin/enrollment-tokens/:id/revoke',
      { config: { scope: 'enrollment:write' }, schema: { params: idParam('tok') } },
      async (request) =>
        revokeEnrollmentToken(
          ctx,
          { tenantId: request.admin.tenantId, tokenId: request.params.id },
          request.admin.meta,
        ),
    );

    app.get(
      '/v1/admin/devices',
      {
        config: { scope: 'devices:read', tenant: 'query', allTenants: true },
        schema: { querystring: tenantQuery },
      },
      async (request) => ({ devices: await listDevices(ctx, request.admin.tenantId) }),
    );

    app.get(
      '/v1/admin/devices/:id',
      { config: { scope: 'devices:read' }, schema: { params: idParam('dev') } },
      async (request) => getDevice(ctx, request.params.id, request.admin.tenantId),
    );

    app.post(
      '/v1/admin/devices/:id/revoke',
      {
        config: { scope: 'devices:write' },
        schema: {
          params: idParam('dev'),
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['reason'],
            properties: { reason: { type: 'string', enum: [...DEVICE_REVOCATION_REASONS] } },
          },
        },
      },
      async (request) => {
        const { reason } = request.body;
        const device = await revokeDevice(
          ctx,
          { deviceId: request.params.id, tenantId: request.admin.tenantId, reason },
          request.admin.meta,
        );
        request.log.warn(
          { event: 'device.revoked', deviceId: device.deviceId, tenantId: device.tenantId },
          'device revoked',
        );
        ctx.metrics.deviceRevocations.inc({ reason });
        await crls.regenerate();
        return device;
      },
    );

    app.get(
      '/v1/revocations',
      {
        config: { scope: 'devices:read', tenant: 'query' },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              tenant: { type: 'string', minLength: 1, maxLength: 100 },
              after: { type: 'integer', minimum: 0 },
              limit: { type: 'integer', minimum: 1, maximum: 1000 },
            },
          },
        },
      },
      async (request) => {
        const { query } = request;
        const { page } = await signedRevocationPage(
          ctx,
          request.admin.namedTenant(),
          query.after ?? 0,
          query.limit ?? 500,
        );
        return { page };
      },
    );
  };
}
