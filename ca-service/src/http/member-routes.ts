import rateLimit from '@fastify/rate-limit';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import { ForbiddenError, MEMBER_PERMISSIONS, MEMBER_ROLES } from '@lantern/shared';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import { actionOf, authorizationDecisionsOf } from '../members/authorization-decisions.js';
import {
  DEFAULT_INVITATION_TTL_SECONDS,
  MAX_INVITATION_TTL_SECONDS,
  acceptInvitation,
  createInvitation,
  getInvitation,
  listInvitations,
  revokeInvitation,
} from '../members/invitations.js';
import { covers, scopesOf } from '../members/member-roles.js';
import {
  addMember,
  assignGrant,
  createOrganization,
  grantScopes,
  listMemberships,
  listOrganizations,
  suspendMembership,
} from '../members/memberships.js';
import type { MembershipView } from '../members/memberships.js';
import type { Mailer } from '../self-service/mailer.js';
import { correlationIdOf } from './principal.js';
import { SELF_SERVICE_PAGES } from './self-service-pages.js';
import { errorCode } from './self-service-routes.js';
import { idParam } from './schemas.js';

const tenantProperty = { type: 'string', minLength: 1, maxLength: 100 } as const;
const organizationProperty = {
  type: 'string',
  pattern: '^(ten|org)_[0-9A-HJKMNP-TV-Z]{26}$',
} as const;
const tenantBody = {
  type: 'object',
  additionalProperties: false,
  properties: { tenant: tenantProperty },
} as const;

/** A withdrawal or suspension names the tenant and may say why. */
const reasonBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tenant: tenantProperty,
    reason: { type: 'string', minLength: 1, maxLength: 200 },
  },
} as const;

/**
 * A caller gives away no more than it holds: granting a role or permission (directly or by an
 * invitation) needs every scope it carries. A refusal is an authorisation decision too.
 */
async function assertMayGrant(
  ctx: CaContext,
  request: FastifyRequest,
  scopes: string[],
): Promise<void> {
  const { principal, meta, tenantId } = request.admin;
  if (covers(principal.scopes, scopes)) return;
  const missing = scopes.filter((scope) => !principal.scopes.includes(scope));
  const reason = `cannot grant what the caller does not hold: ${missing.join(', ')}`;
  await authorizationDecisionsOf(ctx).record(
    {
      subject: meta.actor.id,
      action: actionOf(request),
      scope: scopes.join(','),
      tenantId,
      result: 'deny',
      reason,
    },
    meta,
  );
  throw new ForbiddenError(reason);
}

/** What accepting an invitation grants: its roles' scopes, and `admin` for an admin account. */
const invitationScopes = (roles: readonly string[], accountRole: string | undefined) => [
  ...scopesOf(roles, []),
  ...(accountRole === 'admin' ? ['admin'] : []),
];

/** A member's standing is changed only by a caller holding every scope it carries. */
async function assertMayChangeMember(
  ctx: CaContext,
  request: FastifyRequest,
  which: (view: MembershipView) => boolean,
): Promise<void> {
  const target = (await listMemberships(ctx.store.db, request.admin.namedTenant())).find(which);
  if (target) await assertMayGrant(ctx, request, scopesOf(target.roles, target.permissions));
}

/**
 * Organisations, invitations, memberships and their roles and permissions (issue 20): admin
 * routes under `adminApi`, each with its scope, plus the public, rate-limited accept.
 */
export function memberAdminRoutes(ctx: CaContext, mailer?: Mailer): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    const mailInvitation = invitationMailer(ctx, app, mailer);
    app.post(
      '/v1/admin/organizations',
      {
        config: { scope: 'members:write', tenant: 'body' },
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['name'],
            properties: {
              tenant: tenantProperty,
              name: { type: 'string', minLength: 1, maxLength: 200 },
            },
          },
        },
      },
      async (request, reply) => {
        const org = await createOrganization(
          ctx,
          { tenantId: request.admin.namedTenant(), name: request.body.name },
          request.admin.meta,
        );
        return reply.status(201).send(org);
      },
    );

    app.get(
      '/v1/admin/organizations',
      { config: { scope: 'members:read', tenant: 'query' }, schema: { querystring: tenantBody } },
      async (request) => ({
        organizations: await listOrganizations(ctx.store.db, request.admin.namedTenant()),
      }),
    );

    app.post(
      '/v1/admin/invitations',
      {
        config: { scope: 'members:write', tenant: 'body' },
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['email'],
            properties: {
              tenant: tenantProperty,
              email: { type: 'string', format: 'email', maxLength: 254 },
              organizationId: organizationProperty,
              roles: {
                type: 'array',
                items: { type: 'string', enum: [...MEMBER_ROLES] },
                maxItems: MEMBER_ROLES.length,
                uniqueItems: true,
              },
              accountRole: { type: 'string', enum: ['teacher', 'admin'] },
              ttlSeconds: { type: 'integer', minimum: 300, maximum: MAX_INVITATION_TTL_SECONDS },
            },
          },
        },
      },
      async (request, reply) => {
        const { body, admin } = request;
        const roles = body.roles ?? [];
        await assertMayGrant(ctx, request, invitationScopes(roles, body.accountRole));
        const tenantId = admin.namedTenant();
        const created = await createInvitation(
          ctx,
          {
            tenantId,
            organizationId: body.organizationId ?? tenantId,
            email: body.email,
            roles,
            accountRole: body.accountRole ?? 'teacher',
            ttlSeconds: body.ttlSeconds ?? DEFAULT_INVITATION_TTL_SECONDS,
          },
          admin.meta,
        );
        const mailed = mailInvitation(tenantId, body.email, created);
        return reply.status(201).send({ ...created, mailed });
      },
    );

    app.post(
      '/v1/admin/invitations/:id/revoke',
      {
        config: { scope: 'members:write', tenant: 'body' },
        schema: {
          params: idParam('inv'),
          body: reasonBody,
        },
      },
      async (request) => {
        const tenantId = request.admin.namedTenant();
        // Withdrawing an invitation undoes a grant: only for a caller holding what it grants.
        const invitation = await getInvitation(ctx, request.params.id, tenantId);
        await assertMayGrant(
          ctx,
          request,
          invitationScopes(invitation.roles, invitation.accountRole),
        );
        return revokeInvitation(
          ctx,
          {
            tenantId,
            invitationId: request.params.id,
            ...(request.body.reason ? { reason: request.body.reason } : {}),
          },
          request.admin.meta,
        );
      },
    );

    app.get(
      '/v1/admin/invitations',
      { config: { scope: 'members:read', tenant: 'query' }, schema: { querystring: tenantBody } },
      async (request) => ({ invitations: await listInvitations(ctx, request.admin.namedTenant()) }),
    );

    app.get(
      '/v1/admin/memberships',
      {
        config: { scope: 'members:read', tenant: 'query' },
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { tenant: tenantProperty, user: idParam('usr').properties.id },
          },
        },
      },
      async (request) => ({
        memberships: await listMemberships(
          ctx.store.db,
          request.admin.namedTenant(),
          request.query.user,
        ),
      }),
    );

    app.post(
      '/v1/admin/memberships',
      {
        config: { scope: 'members:write', tenant: 'body' },
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['userId'],
            properties: {
              tenant: tenantProperty,
              userId: idParam('usr').properties.id,
              organizationId: organizationProperty,
            },
          },
        },
      },
      async (request, reply) => {
        const tenantId = request.admin.namedTenant();
        const { userId, organizationId } = request.body;
        // Lifting a suspension gives the member's roles back: only for a caller holding as much,
        // judged in the change's transaction so a grant landing meanwhile is judged too.
        const view = await ctx.store.transaction(async () => {
          await assertMayChangeMember(
            ctx,
            request,
            (member) =>
              member.userId === userId && member.organizationId === (organizationId ?? tenantId),
          );
          return addMember(
            ctx,
            { tenantId, userId, organizationId: organizationId ?? tenantId },
            request.admin.meta,
          );
        });
        return reply.status(201).send(view);
      },
    );

    app.post(
      '/v1/admin/memberships/:id/suspend',
      {
        config: { scope: 'members:write', tenant: 'body' },
        schema: {
          params: idParam('mem'),
          body: reasonBody,
        },
      },
      async (request) => {
        const tenantId = request.admin.namedTenant();
        // Suspending takes away what the member holds: only for a caller holding as much, judged
        // in the change's transaction.
        return ctx.store.transaction(async () => {
          await assertMayChangeMember(
            ctx,
            request,
            (view) => view.membershipId === request.params.id,
          );
          return suspendMembership(
            ctx,
            {
              tenantId,
              membershipId: request.params.id,
              ...(request.body.reason ? { reason: request.body.reason } : {}),
            },
            request.admin.meta,
          );
        });
      },
    );

    app.post(
      '/v1/admin/memberships/:id/roles',
      {
        config: { scope: 'members:write', tenant: 'body' },
        schema: {
          params: idParam('mem'),
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['role'],
            properties: {
              tenant: tenantProperty,
              role: { type: 'string', enum: [...MEMBER_ROLES] },
            },
          },
        },
      },
      async (request) => {
        const grant = { role: request.body.role };
        await assertMayGrant(ctx, request, grantScopes(grant));
        return assignGrant(
          ctx,
          { tenantId: request.admin.namedTenant(), membershipId: request.params.id, grant },
          request.admin.meta,
        );
      },
    );

    app.post(
      '/v1/admin/memberships/:id/permissions',
      {
        config: { scope: 'members:write', tenant: 'body' },
        schema: {
          params: idParam('mem'),
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['permission'],
            properties: {
              tenant: tenantProperty,
              permission: { type: 'string', enum: [...MEMBER_PERMISSIONS] },
            },
          },
        },
      },
      async (request) => {
        const grant = { permission: request.body.permission };
        await assertMayGrant(ctx, request, grantScopes(grant));
        return assignGrant(
          ctx,
          { tenantId: request.admin.namedTenant(), membershipId: request.params.id, grant },
          request.admin.meta,
        );
      },
    );
  };
}

/**
 * With SMTP configured (`serve --smtp-url`), the invitation goes out by mail after the answer:
 * a link to the accept page with the tenant and the token in the fragment, which browsers send
 * to no server. A failed mail is logged by its code only (an SMTP error may quote the message);
 * the invitation stands, and the admin still has the token from the answer.
 */
function invitationMailer(
  ctx: CaContext,
  app: { addHook(name: 'onClose', hook: () => Promise<void>): unknown },
  mailer: Mailer | undefined,
) {
  const pending = new Set<Promise<void>>();
  app.addHook('onClose', async () => {
    await Promise.all(pending);
  });
  const origin = (ctx.publicUrls[0] ?? ctx.publicUrl).replace(/\/$/, '');
  return (
    tenantId: string,
    email: string,
    created: { invitation: { expiresAt: string }; token: string },
  ): boolean => {
    if (!mailer) return false;
    const fragment = new URLSearchParams({ tenant: tenantId, token: created.token }).toString();
    const job = mailer
      .send({
        to: email,
        subject: 'Lantern: you are invited',
        text: [
          'Hello,',
          '',
          `You are invited to your school's Lantern. To accept, open this link (it works once, until ${created.invitation.expiresAt}):`,
          `${origin}${SELF_SERVICE_PAGES.accept}#${fragment}`,
          '',
          'If you were not expecting this, ignore this message.',
        ].join('\n'),
      })
      .catch((error: unknown) => {
        ctx.logger.error(
          { event: 'invitation.mail_failed', error: errorCode(error) },
          'an invitation could not be mailed',
        );
      })
      .finally(() => pending.delete(job));
    pending.add(job);
    return true;
  };
}

/** `POST /v1/invitations/accept`: public, so rate-limited per client and checked by token. */
export function invitationRoutes(
  ctx: CaContext,
  options: { rateLimitPerMinute: number },
): FastifyPluginAsync {
  return async (scope) => {
    await scope.register(rateLimit, { max: options.rateLimitPerMinute, timeWindow: 60_000 });
    scope.withTypeProvider<JsonSchemaToTsProvider>().post(
      '/v1/invitations/accept',
      {
        bodyLimit: 8 * 1024,
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['tenant', 'token', 'username', 'password'],
            properties: {
              tenant: tenantProperty,
              token: { type: 'string', minLength: 1, maxLength: 200 },
              username: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$' },
              password: { type: 'string', minLength: 1, maxLength: 1024 },
              displayName: { type: 'string', minLength: 1, maxLength: 200 },
            },
          },
        },
      },
      async (request, reply) => {
        const accepted = await acceptInvitation(ctx, request.body, {
          correlationId: correlationIdOf(request),
        });
        return reply.status(201).send(accepted);
      },
    );
  };
}
