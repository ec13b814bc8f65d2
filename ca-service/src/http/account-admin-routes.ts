import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import { ForbiddenError, thumbprint } from '@lantern/shared';
import type { FastifyPluginAsync } from 'fastify';
import { API_SCOPES, issueApiKey, revokeApiKey } from '../api-keys/api-keys.js';
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
import type { UserAction } from '../users/users.js';
import { updateUser } from '../users/update-user.js';
import { idParam, tenantQuery } from './schemas.js';

const USER_ACTIONS: readonly UserAction[] = ['lock', 'unlock', 'suspend', 'reactivate', 'erase'];

/** Users, API keys and the revocation of sessions and grants. */
export function accountAdminRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.post(
      '/v1/admin/users',
      {
        config: { scope: 'users:write', tenant: 'body' },
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
        const user = await registerUser(
          ctx,
          { ...request.body, tenant: request.admin.namedTenant() },
          request.admin.meta,
        );
        return reply.status(201).send(user);
      },
    );

    app.get(
      '/v1/admin/users',
      { config: { scope: 'users:read', tenant: 'query' }, schema: { querystring: tenantQuery } },
      async (request) => ({ users: await listUsers(ctx, request.admin.namedTenant()) }),
    );

    app.get(
      '/v1/admin/users/:id',
      { config: { scope: 'users:read' }, schema: { params: idParam('usr') } },
      async (request) => toUserView(await getUser(ctx, request.params.id, request.admin.tenantId)),
    );

    app.patch(
      '/v1/admin/users/:id',
      {
        config: { scope: 'users:write' },
        schema: {
          params: idParam('usr'),
          body: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              role: { type: 'string', enum: [...ROLES] },
              email: { type: 'string', format: 'email', maxLength: 254 },
              displayName: { type: 'string', minLength: 1, maxLength: 200 },
            },
          },
        },
      },
      async (request) => {
        return updateUser(
          ctx,
          { userId: request.params.id, tenantId: request.admin.tenantId, changes: request.body },
          request.admin.meta,
        );
      },
    );

    app.post(
      '/v1/admin/users/:id/:action',
      {
        config: { scope: 'users:write' },
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
        const { id, action } = request.params;
        const reason = request.body?.reason;
        return applyUserAction(
          ctx,
          { userId: id, tenantId: request.admin.tenantId, action, ...(reason ? { reason } : {}) },
          request.admin.meta,
        );
      },
    );

    app.post(
      '/v1/admin/sessions/:id/revoke',
      { config: { scope: 'users:write' }, schema: { params: idParam('ses') } },
      async (request) =>
        revokeSession(ctx, request.params.id, request.admin.tenantId, request.admin.meta),
    );

    app.post(
      '/v1/admin/grants/:id/revoke',
      { config: { scope: 'users:write' }, schema: { params: idParam('grt') } },
      async (request) =>
        revokeGrant(ctx, request.params.id, request.admin.tenantId, request.admin.meta),
    );

    app.post(
      '/v1/admin/api-keys',
      {
        config: { scope: 'admin' },
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
        const { body } = request;
        const { principal } = request.admin;
        const tenantId =
          body.tenant === undefined
            ? principal.tenantId
            : (await getTenant(ctx.store.db, body.tenant)).tenantId;
        if (principal.tenantId !== null && tenantId !== principal.tenantId) {
          throw new ForbiddenError('a tenant key can only create keys for its own tenant');
        }
        const issued = await issueApiKey(
          ctx,
          {
            tenantId,
            scopes: body.scopes,
            ...(body.name ? { name: body.name } : {}),
            ...(body.ttlSeconds ? { ttlSeconds: body.ttlSeconds } : {}),
          },
          request.admin.meta,
        );
        return reply.status(201).send({ ...issued, tenantId, scopes: body.scopes });
      },
    );

    app.post(
      '/v1/admin/api-keys/:id/revoke',
      { config: { scope: 'admin' }, schema: { params: idParam('key') } },
      async (request) =>
        revokeApiKey(ctx, request.params.id, request.admin.tenantId, request.admin.meta),
    );

    app.get(
      '/v1/admin/keys',
      { config: { scope: 'admin', installationOnly: 'list the token keys' } },
      async () => ({ keys: ctx.tokenKeys.list() }),
    );

    app.post(
      '/v1/admin/keys/rotate',
      { config: { scope: 'admin', installationOnly: 'rotate token keys' } },
      async () => {
        const change = await ctx.tokenKeys.rotate();
        ctx.logger.info({ event: 'jwks.rotation', ...change.rotation }, 'token keys rotated');
        return { activeKid: ctx.tokenKeys.activeKid, ...change };
      },
    );

    app.post<{ Params: { kid: string } }>(
      '/v1/admin/keys/:kid/revoke',
      {
        config: { scope: 'admin', installationOnly: 'revoke a token key' },
        schema: {
          params: { type: 'object', required: ['kid'], properties: { kid: thumbprint } },
        },
      },
      async (request) => {
        const { kid } = request.params;
        const change = await ctx.tokenKeys.revoke(kid);
        ctx.logger.warn(
          { event: 'jwks.key_revoked', kid, ...change.rotation },
          'token key revoked: every token it signed stops verifying',
        );
        return { revokedKid: kid, activeKid: ctx.tokenKeys.activeKid, ...change };
      },
    );

    app.post(
      '/v1/admin/keys/replace',
      { config: { scope: 'admin', installationOnly: 'replace the token keys' } },
      async () => {
        const change = await ctx.tokenKeys.replaceAll();
        ctx.logger.warn(
          { event: 'jwks.replaced', activeKid: ctx.tokenKeys.activeKid, ...change },
          'every token key replaced: every token signed so far stops verifying',
        );
        return { activeKid: ctx.tokenKeys.activeKid, ...change };
      },
    );
  };
}
