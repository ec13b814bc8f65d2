import { ForbiddenError } from '@lantern/shared';
import type { FastifyPluginAsync } from 'fastify';
import { authorize } from '../api-keys/api-keys.js';
import type { CaContext } from '../context/ca-context.js';
import { DEVICE_REVOCATION_REASONS, getDevice, listDevices } from '../devices/devices.js';
import type { DeviceRevocationReason } from '../devices/devices.js';
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
import { createTenant, getTenant, listTenants } from '../tenants/tenant-commands.js';
import { adminMeta, adminPrincipal } from './principal.js';
import { idParam, tenantQuery } from './schemas.js';
import { tenantFor } from './tenant-for.js';

export function adminRoutes(ctx: CaContext, crls: CrlPublisher): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/v1/admin/tenants',
      {
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
        const principal = adminPrincipal(ctx, request);
        authorize(principal, 'tenants:write');
        if (principal.tenantId !== null)
          throw new ForbiddenError('only an installation-wide key can create tenants');
        const tenant = createTenant(
          ctx,
          request.body as { name: string; slug?: string },
          adminMeta(principal, request),
        );
        return reply.status(201).send(tenant);
      },
    );

    app.get('/v1/admin/tenants', async (request) => {
      const principal = adminPrincipal(ctx, request);
      authorize(principal, 'devices:read');
      const tenants = listTenants(ctx.store.db);
      return {
        tenants:
          principal.tenantId === null
            ? tenants
            : tenants.filter((t) => t.tenantId === principal.tenantId),
      };
    });

    app.post(
      '/v1/admin/enrollment-tokens',
      {
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
        const body = request.body as { tenant?: string; ttlSeconds?: number; deviceName?: string };
        const principal = adminPrincipal(ctx, request);
        const tenantId = tenantFor(ctx, adminPrincipal(ctx, request), body.tenant);
        authorize(principal, 'enrollment:write', tenantId);
        const created = createEnrollmentToken(
          ctx,
          {
            tenant: tenantId,
            ttlSeconds: body.ttlSeconds ?? 3600,
            ...(body.deviceName ? { deviceName: body.deviceName } : {}),
          },
          adminMeta(principal, request),
        );
        return reply.status(201).send({ ...created, ...enrollmentHandout(ctx, created.token) });
      },
    );

    app.get(
      '/v1/admin/enrollment-tokens',
      { schema: { querystring: tenantQuery } },
      async (request) => {
        const { tenant } = request.query as { tenant?: string };
        const principal = adminPrincipal(ctx, request);
        const tenantId = tenantFor(ctx, adminPrincipal(ctx, request), tenant);
        authorize(principal, 'devices:read', tenantId);
        return { tokens: listEnrollmentTokens(ctx, tenantId) };
      },
    );

    app.post(
      '/v1/admin/enrollment-tokens/:id/revoke',
      { schema: { params: idParam('tok') } },
      async (request) => {
        const principal = adminPrincipal(ctx, request);
        authorize(principal, 'enrollment:write');
        const { id } = request.params as { id: string };
        return revokeEnrollmentToken(
          ctx,
          { tenantId: principal.tenantId, tokenId: id },
          adminMeta(principal, request),
        );
      },
    );

    app.get('/v1/admin/devices', { schema: { querystring: tenantQuery } }, async (request) => {
      const { tenant } = request.query as { tenant?: string };
      const principal = adminPrincipal(ctx, request);
      authorize(principal, 'devices:read');
      const tenantId =
        tenant === undefined ? principal.tenantId : getTenant(ctx.store.db, tenant).tenantId;
      authorize(principal, 'devices:read', tenantId ?? undefined);
      return { devices: listDevices(ctx, tenantId) };
    });

    app.get('/v1/admin/devices/:id', { schema: { params: idParam('dev') } }, async (request) => {
      const principal = adminPrincipal(ctx, request);
      authorize(principal, 'devices:read');
      return getDevice(ctx, (request.params as { id: string }).id, principal.tenantId);
    });

    app.post(
      '/v1/admin/devices/:id/revoke',
      {
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
        const principal = adminPrincipal(ctx, request);
        authorize(principal, 'devices:write');
        const device = revokeDevice(
          ctx,
          {
            deviceId: (request.params as { id: string }).id,
            tenantId: principal.tenantId,
            reason: (request.body as { reason: DeviceRevocationReason }).reason,
          },
          adminMeta(principal, request),
        );
        request.log.warn(
          { event: 'device.revoked', deviceId: device.deviceId, tenantId: device.tenantId },
          'device revoked',
        );
        ctx.metrics.deviceRevocations.inc({ reason: (request.body as { reason: string }).reason });
        await crls.regenerate();
        return device;
      },
    );

    app.get(
      '/v1/revocations',
      {
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
        const query = request.query as { tenant?: string; after?: number; limit?: number };
        const principal = adminPrincipal(ctx, request);
        const tenantId = tenantFor(ctx, adminPrincipal(ctx, request), query.tenant);
        authorize(principal, 'devices:read', tenantId);
        const { page } = await signedRevocationPage(
          ctx,
          tenantId,
          query.after ?? 0,
          query.limit ?? 500,
        );
        return { page };
      },
    );
  };
}
