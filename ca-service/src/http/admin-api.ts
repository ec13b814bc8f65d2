import { ForbiddenError, isLanternError } from '@lantern/shared';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { ApiKeyPrincipal, ApiScope } from '../api-keys/api-keys.js';
import { API_SCOPES, authorize } from '../api-keys/api-keys.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import {
  PRIVILEGED_SCOPES,
  actionOf,
  authorizationDecisionsOf,
} from '../members/authorization-decisions.js';
import { getTenant } from '../tenants/tenant-commands.js';
import { idempotentPosts } from './idempotency.js';
import { assertMayManageAccount } from './admin-account-guard.js';
import { adminMeta, adminPrincipal } from './principal.js';
import { tenantFor } from './tenant-for.js';

/** Where an admin route names the tenant it acts on: `tenant` of the query or body, or `:id`. */
export type TenantSource = 'query' | 'body' | 'param';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The API key scope an admin route needs; a route under `adminApi` without one never starts. */
    scope?: ApiScope;
    /** The route acts on a tenant it names here, checked against the key's own. */
    tenant?: TenantSource;
    /** With `tenant`: an installation key naming none acts on every tenant (else it must name one). */
    allTenants?: true;
    /** Only an installation-wide key may do this; the refusal reads "only … can <this>". */
    installationOnly?: string;
  }
  interface FastifyRequest {
    /** The authorized caller of a route under `adminApi` (not set on any other route). */
    admin: AdminCaller;
  }
}

/** Who calls an admin route, and the tenant the route's rule resolved. */
export class AdminCaller {
  constructor(
    readonly principal: ApiKeyPrincipal,
    readonly meta: CommandMeta,
    /** The tenant the call is confined to; null: every tenant (an installation key). */
    public tenantId: string | null,
  ) {}

  /** The tenant of a route with a `tenant` rule and no `allTenants`: always one. */
  namedTenant(): string {
    if (this.tenantId === null) throw new Error('this admin route declares no `tenant` rule');
    return this.tenantId;
  }
}

/**
 * The admin API: every route of `features` is authenticated (admin API key, else console session
 * with its CSRF and Origin checks) before its body is read, then authorized against the scope and
 * tenant its `config` declares once its input is validated. A route that declares no scope fails
 * the start: forgetting the check cannot open a route. Every POST honours `Idempotency-Key`
 * (idempotency.ts).
 */
export function adminApi(
  ctx: CaContext,
  features: readonly FastifyPluginAsync[],
): FastifyPluginAsync {
  return async (app) => {
    app.decorateRequest('admin');
    app.addHook('onRoute', (route) => {
      const scope = route.config?.scope;
      if (scope === undefined || !API_SCOPES.includes(scope)) {
        throw new Error(
          `admin route ${route.method} ${route.url} declares no scope (config.scope)`,
        );
      }
    });
    app.addHook('onRequest', async (request) => {
      const principal = await adminPrincipal(ctx, request);
      request.admin = new AdminCaller(principal, adminMeta(principal, request), principal.tenantId);
    });
    const decisions = authorizationDecisionsOf(ctx);
    app.addHook('preHandler', async (request) => {
      const { admin } = request;
      const scope = request.routeOptions.config.scope ?? 'admin';
      const decision = { subject: admin.meta.actor.id, action: actionOf(request), scope };
      try {
        await authorizeCall(ctx, request);
      } catch (error) {
        if (isLanternError(error) && error.status === 403) {
          await decisions.record(
            {
              ...decision,
              tenantId: admin.tenantId,
              callerTenantId: admin.principal.tenantId,
              result: 'deny',
              reason: error.message,
            },
            admin.meta,
          );
        }
        throw error;
      }
      if (PRIVILEGED_SCOPES.has(scope) && request.method !== 'GET' && request.method !== 'HEAD') {
        await decisions.record(
          { ...decision, tenantId: admin.tenantId, result: 'allow' },
          admin.meta,
        );
      }
    });
    // After authorization: a key a caller may not use claims nothing.
    idempotentPosts(app, ctx);
    for (const feature of features) await app.register(feature);
  };
}

async function authorizeCall(ctx: CaContext, request: FastifyRequest): Promise<void> {
  const { scope, tenant, allTenants, installationOnly } = request.routeOptions.config;
  const caller = request.admin;
  const { principal } = caller;
  if (scope === undefined) throw new Error('admin route without a scope');
  if (tenant === undefined) {
    authorize(principal, scope);
  } else {
    const named = namedTenantOf(request, tenant);
    if (allTenants) {
      caller.tenantId =
        named === undefined ? principal.tenantId : (await getTenant(ctx.store.db, named)).tenantId;
    } else {
      caller.tenantId = await tenantFor(ctx, principal, named);
    }
    authorize(principal, scope, caller.tenantId ?? undefined);
  }
  if (installationOnly !== undefined && principal.tenantId !== null) {
    throw new ForbiddenError(`only an installation-wide key can ${installationOnly}`);
  }
  await assertMayManageAccount(ctx, request);
}

function namedTenantOf(request: FastifyRequest, source: TenantSource): string | undefined {
  const input =
    source === 'query' ? request.query : source === 'body' ? request.body : request.params;
  const value = (input as Record<string, unknown> | undefined)?.[
    source === 'param' ? 'id' : 'tenant'
  ];
  return typeof value === 'string' ? value : undefined;
}
