import rateLimit from '@fastify/rate-limit';
import { LanternError } from '@lantern/shared';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import { linkIdentityByAdmin } from '../sso/sso-identities.js';
import { setSsoProvider, ssoProviderBodySchema, ssoProviderOf } from '../sso/sso-providers.js';
import {
  completeSso,
  confirmSsoHandoff,
  redeemSsoHandoff,
  ssoCallbackPath,
  startSso,
  startSsoHandoff,
} from '../sso/sso-signin.js';
import { deviceProofSupport } from './device-proof-support.js';
import { correlationIdOf } from './principal.js';
import { idParam } from './schemas.js';
import {
  HANDOFF_PAGE_CSP,
  handoffConfirmPage,
  handoffDonePage,
  handoffRefusedPage,
} from './sso-handoff-page.js';

const tenantParam = {
  type: 'object',
  required: ['tenant'],
  properties: { tenant: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

const FORM = 'application/x-www-form-urlencoded';

const handoffParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' } },
} as const;

const callbackQuery = {
  type: 'object',
  properties: {
    state: { type: 'string', minLength: 1, maxLength: 200 },
    code: { type: 'string', minLength: 1, maxLength: 4096 },
    error: { type: 'string', minLength: 1, maxLength: 200 },
    error_description: { type: 'string', maxLength: 2000 },
    iss: { type: 'string', maxLength: 500 },
  },
} as const;

/**
 * Single sign-on through the tenant's OpenID Connect provider (docs/sso.md): the browser flow
 * (start → provider → callback, answered like `POST /v1/auth/login`) and the device hand-off
 * (a device starts it with its proof, a browser completes it, the device redeems it).
 */
export function ssoRoutes(
  ctx: CaContext,
  options: { rateLimitPerMinute: number },
): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    const proofs = deviceProofSupport(app, ctx);
    await app.register(rateLimit, { max: options.rateLimitPerMinute, timeWindow: 60_000 });

    app.get(
      '/v1/sso/:tenant/start',
      { schema: { params: tenantParam } },
      async (request, reply) => {
        const url = await startSso(ctx, request.params.tenant);
        return reply.header('cache-control', 'no-store').redirect(url, 302);
      },
    );

    app.get(ssoCallbackPath, { schema: { querystring: callbackQuery } }, async (request, reply) => {
      const outcome = await completeSso(ctx, request.query, correlationIdOf(request));
      reply.header('cache-control', 'no-store');
      if (outcome.kind === 'signed_in') return outcome.login;
      return reply
        .header('content-security-policy', HANDOFF_PAGE_CSP)
        .header('referrer-policy', 'no-referrer')
        .type('text/html; charset=utf-8')
        .send(handoffConfirmPage(outcome));
    });

    // The confirmation page's form (no script on it) posts urlencoded fields.
    app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: 1024 }, (_request, body, done) =>
      done(null, Object.fromEntries(new URLSearchParams(String(body)))),
    );
    app.post(
      '/v1/sso/handoffs/:id/confirm',
      {
        bodyLimit: 1024,
        schema: {
          params: handoffParam,
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['confirmToken', 'userCode'],
            properties: {
              confirmToken: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
              userCode: { type: 'string', minLength: 1, maxLength: 20 },
            },
          },
        },
      },
      async (request, reply) => {
        reply
          .header('cache-control', 'no-store')
          .header('content-security-policy', HANDOFF_PAGE_CSP)
          .header('referrer-policy', 'no-referrer');
        try {
          await confirmSsoHandoff(ctx, request.params.id, request.body);
        } catch (error) {
          // The page's own form: a person reads the refusal as a page and may try again there.
          const fromForm = request.headers['content-type']?.startsWith(FORM) ?? false;
          if (!fromForm || !(error instanceof LanternError)) throw error;
          const triesLeft = Number(error.details?.['triesLeft'] ?? 0);
          return reply
            .status(error.status)
            .type('text/html; charset=utf-8')
            .send(
              handoffRefusedPage({
                handoffId: request.params.id,
                confirmToken: request.body.confirmToken,
                message: error.message,
                retry: error.code === 'sso_handoff_code_wrong' && triesLeft > 0,
              }),
            );
        }
        return reply.type('text/html; charset=utf-8').send(handoffDonePage());
      },
    );

    app.post(
      '/v1/sso/:tenant/handoffs',
      { bodyLimit: 1024, schema: { params: tenantParam } },
      async (request, reply) => {
        const device = await proofs.prove(request);
        return reply.status(201).send(await startSsoHandoff(ctx, request.params.tenant, device));
      },
    );

    app.post(
      '/v1/sso/handoffs/:id',
      { bodyLimit: 1024, schema: { params: handoffParam } },
      async (request) =>
        redeemSsoHandoff(
          ctx,
          request.params.id,
          await proofs.prove(request),
          correlationIdOf(request),
        ),
    );
  };
}

const adminTenantParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

/** Per-tenant provider configuration and admin pre-links, under the admin API's checks. */
export function ssoAdminRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.get(
      '/v1/admin/tenants/:id/sso',
      { config: { scope: 'users:read', tenant: 'param' }, schema: { params: adminTenantParam } },
      async (request) => ssoProviderOf(ctx.store.db, request.admin.namedTenant()),
    );

    app.post(
      '/v1/admin/tenants/:id/sso',
      {
        config: { scope: 'tenants:write', tenant: 'param' },
        schema: { params: adminTenantParam, body: ssoProviderBodySchema },
      },
      async (request) =>
        setSsoProvider(ctx, request.admin.namedTenant(), request.body, request.admin.meta),
    );

    app.post(
      '/v1/admin/users/:id/sso-identities',
      {
        config: { scope: 'users:write' },
        schema: {
          params: idParam('usr'),
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['subject'],
            properties: { subject: { type: 'string', minLength: 1, maxLength: 255 } },
          },
        },
      },
      async (request, reply) =>
        reply
          .status(201)
          .send(
            await linkIdentityByAdmin(
              ctx,
              request.params.id,
              request.admin.tenantId,
              request.body.subject,
              request.admin.meta,
            ),
          ),
    );
  };
}
