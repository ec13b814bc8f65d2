import rateLimit from '@fastify/rate-limit';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { login } from '../signin/password-signin.js';
import type { LoginInput } from '../signin/password-signin.js';
import { logout, refresh } from '../auth/refresh.js';
import type { CaContext } from '../context/ca-context.js';
import { findTenant } from '../tenants/tenant-commands.js';
import { deviceProofSupport } from './device-proof-support.js';
import { correlationIdOf } from './principal.js';

const refreshBody = {
  type: 'object',
  additionalProperties: false,
  required: ['refreshToken'],
  properties: { refreshToken: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

export function authRoutes(
  ctx: CaContext,
  options: { loginRateLimitPerMinute: number; loginPerAccountRateLimitPerMinute: number },
): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    const proofs = deviceProofSupport(app, ctx);
    await app.register(rateLimit, { max: options.loginRateLimitPerMinute, timeWindow: 60_000 });
    // A second limiter, per client and account: the per-client one alone lets one address spend
    // its whole budget guessing one learner's password. Its own plugin instance, so both count.
    const perAccount = (scope: FastifyInstance) =>
      scope.register(rateLimit, {
        max: options.loginPerAccountRateLimitPerMinute,
        timeWindow: 60_000,
        hook: 'preHandler',
        // Keyed on the resolved tenant id: its slug and its id are one tenant, so naming it both
        // ways does not double the budget. Within a tenant a username is the account (unique);
        // case-folded, so `Amina` and `amina` share one budget too.
        keyGenerator: async (request) => {
          const { tenant, username } = request.body as LoginInput;
          const tenantId = (await findTenant(ctx.store.db, tenant))?.tenantId ?? tenant;
          return JSON.stringify([request.ip, tenantId, username.toLowerCase()]);
        },
      });

    app.get('/.well-known/jwks.json', { config: { rateLimit: false } }, async (_request, reply) =>
      reply.header('cache-control', 'public, max-age=300').send(ctx.tokenKeys.jwks()),
    );

    await app.register(async (scope) => {
      await perAccount(scope);
      scope.withTypeProvider<JsonSchemaToTsProvider>().post(
        '/v1/auth/login',
        {
          bodyLimit: 8 * 1024,
          schema: {
            body: {
              type: 'object',
              additionalProperties: false,
              required: ['tenant', 'username', 'password'],
              properties: {
                tenant: { type: 'string', minLength: 1, maxLength: 100 },
                username: { type: 'string', minLength: 1, maxLength: 64 },
                password: { type: 'string', minLength: 1, maxLength: 1024 },
                totp: { type: 'string', pattern: '^[0-9]{6,10}$' },
              },
            },
          },
        },
        async (request) =>
          login(ctx, request.body, await proofs.proveIfPresent(request), correlationIdOf(request), {
            ip: request.ip,
          }),
      );
    });

    app.post(
      '/v1/auth/refresh',
      { bodyLimit: 4 * 1024, schema: { body: refreshBody } },
      async (request) =>
        refresh(
          ctx,
          request.body.refreshToken,
          await proofs.proveIfPresent(request),
          correlationIdOf(request),
        ),
    );

    app.post(
      '/v1/auth/logout',
      { bodyLimit: 4 * 1024, schema: { body: refreshBody } },
      async (request, reply) => {
        await logout(ctx, request.body.refreshToken, correlationIdOf(request));
        return reply.status(204).send();
      },
    );
  };
}
