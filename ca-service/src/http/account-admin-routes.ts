import { ForbiddenError } from '@lantern/shared';
import type { FastifyPluginAsync } from 'fastify';
import { API_SCOPES, authorize, issueApiKey, revokeApiKey } from '../api-keys/api-keys.js';
import type { ApiScope } from '../api-keys/api-keys.js';
import { revokeGrant, revokeSession } from '../auth/revocations.js';
import type { CaContext } from '../context/ca-context.js';
import { getTenant } from '../tenants/tenant-commands.js';
import {
  ROLES,
  applyUserAction,
  getUser,
  listUsers,
  registerUser,
  toUserView,
} from '../users/users.js';
import type { Role, UserAction } from '../users/users.js';
import { adminMeta, adminPrincipal } from './principal.js';
import { idParam, tenantQuery } from './schemas.js';
import { tenantFor } from './tenant-for.js';

const USER_ACTIONS: readonly UserAction[] = ['lock', 'unlock', 'suspend', 'reactivate', 'erase'];

/** Users, API keys and the revocation of sessions and grants. Every route checks scope and tenant. */
export function accountAdminRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (app) => {
    app.post(
      '/v1/admin/users',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['username', 'role', 'password'],
            properties: {
              tenant: { type: 'string', minLength: 1, maxLength: 100 },
              username: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$' },
              role: { type: 'string', enum: [...ROLES] },
              password: { type: 'string', minLength: 1, maxLength: 1024 },
              email: { type: 'string', format: 'email', maxLength: 254 },
              displayName: { type: 'string', minLength: 1, maxLength: 200 },
            },
          },
        },
      },
      async (request, reply) => {
        const body = request.body as {
          tenant?: string;
          username: string;
          role: Role;
          password: string;
          email?: string;
          displayName?: string;
        };
        const principal = adminPrincipal(ctx, request);
        const tenantId = tenantFor(ctx, principal, body.tenant);
        authorize(principal, 'users:write', tenantId);
        const user = await registerUser(
          ctx,
          { ...body, tenant: tenantId },
          adminMeta(principal, request),
        );
        return reply.status(201).send(user);
      },
    );

    app.get('/v1/admin/users', { schema: { querystring: tenantQuery } }, async (request) => {
      const principal = adminPrincipal(ctx, request);
      const tenantId = tenantFor(ctx, principal, (request.query as { tenant?: string }).tenant);
      authorize(principal, 'users:read', tenantId);
      return { users: listUsers(ctx, tenantId) };
    });

    app.get('/v1/admin/users/:id', { schema: { params: idParam('usr') } }, async (request) => {
      const principal = adminPrincipal(ctx, request);
      authorize(principal, 'users:read');
      return toUserView(getUser(ctx, (request.params as { id: string }).id, principal.tenantId));
    });

    app.post(
      '/v1/admin/users/:id/:action',
      {
        schema: {
          params: {
            type: 'object',
            required: ['id', 'action'],
            properties: {
              ...idParam('usr').properties,
              action: { type: 'string', enum: [...USER_ACTIONS] },
            },
          },
          body: {
            type: 'object',
            additionalProperties: false,
            properties: { reason: { type: 'string', minLength: 1, maxLength: 200 } },
          },
        },
      },
      async (request) => {
        const principal = adminPrincipal(ctx, request);
        authorize(principal, 'users:write');
        const { id, action } = request.params as { id: string; action: UserAction };
        const reason = (request.body as { reason?: string } | undefined)?.reason;
        return applyUserAction(
          ctx,
          { userId: id, tenantId: principal.tenantId, action, ...(reason ? { reason } : {}) },
          adminMeta(principal, request),
        );
      },
    );

    app.post(
      '/v1/admin/sessions/:id/revoke',
      { schema: { params: idParam('ses') } },
      async (request) => {
        const principal = adminPrincipal(ctx, request);
        authorize(principal, 'users:write');
        return revokeSession(
          ctx,
          (request.params as { id: string }).id,
          principal.tenantId,
          adminMeta(principal, request),
        );
      },
    );

    app.post(
      '/v1/admin/grants/:id/revoke',
      { schema: { params: idParam('grt') } },
      async (request) => {
        const principal = adminPrincipal(ctx, request);
        authorize(principal, 'users:write');
        return revokeGrant(
          ctx,
          (request.params as { id: string }).id,
          principal.tenantId,
          adminMeta(principal, request),
        );
      },
    );

    app.post(
      '/v1/admin/api-keys',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['scopes'],
            properties: {
              tenant: { type: 'string', minLength: 1, maxLength: 100 },
              scopes: {
                type: 'array',
                minItems: 1,
                uniqueItems: true,
                items: { type: 'string', enum: [...API_SCOPES] },
              },
              name: { type: 'string', minLength: 1, maxLength: 100 },
              ttlSeconds: { type: 'integer', minimum: 60, maximum: 366 * 86_400 },
            },
          },
        },
      },
      async (request, reply) => {
        const body = request.body as {
          tenant?: string;
          scopes: ApiScope[];
          name?: string;
          ttlSeconds?: number;
        };
        const principal = adminPrincipal(ctx, request);
        authorize(principal, 'admin');
        const tenantId =
          body.tenant === undefined
            ? principal.tenantId
            : getTenant(ctx.store.db, body.tenant).tenantId;
        if (principal.tenantId !== null && tenantId !== principal.tenantId) {
          throw new ForbiddenError('a tenant key can only create keys for its own tenant');
        }
        const issued = issueApiKey(
          ctx,
          {
            tenantId,
            scopes: body.scopes,
            ...(body.name ? { name: body.name } : {}),
            ...(body.ttlSeconds ? { ttlSeconds: body.ttlSeconds } : {}),
          },
          adminMeta(principal, request),
        );
        return reply.status(201).send({ ...issued, tenantId, scopes: body.scopes });
      },
    );

    app.post(
      '/v1/admin/api-keys/:id/revoke',
      { schema: { params: idParam('key') } },
      async (request) => {
        const principal = adminPrincipal(ctx, request);
        authorize(principal, 'admin');
        return revokeApiKey(
          ctx,
          (request.params as { id: string }).id,
          principal.tenantId,
          adminMeta(principal, request),
        );
      },
    );

    app.post('/v1/admin/keys/rotate', async (request) => {
      const principal = adminPrincipal(ctx, request);
      authorize(principal, 'admin');
      if (principal.tenantId !== null)
        throw new ForbiddenError('only an installation-wide key can rotate token keys');
      const change = ctx.tokenKeys.rotate();
      ctx.logger.info({ event: 'jwks.rotation', ...change.rotation }, 'token keys rotated');
      return { activeKid: ctx.tokenKeys.activeKid, ...change };
    });
  };
}
