import { ForbiddenError } from '@lantern/shared';
import type { FastifyRequest } from 'fastify';
import { consoleScopes } from '../console/console-sessions.js';
import type { CaContext } from '../context/ca-context.js';
import { covers } from '../members/member-roles.js';
import { findUserById } from '../users/users.js';

/**
 * An account is worth what it may do: a tenant admin (user role `admin`) everything, a member
 * what its tenant-wide roles and permissions grant. Making an admin, or changing an account's
 * role, email, password, lock, MFA, sessions or SSO link, needs every scope that account holds:
 * a caller with only `users:write` (a key, or a console user holding `user_manager`) could
 * otherwise promote itself, or take over an `org_admin` by setting its password.
 */
export async function assertMayManageAccount(
  ctx: Pick<CaContext, 'store'>,
  request: FastifyRequest,
) {
  const held = request.admin.principal.scopes;
  if (held.includes('admin') || request.method === 'GET' || request.method === 'HEAD') return;
  if (!(request.routeOptions.url ?? '').startsWith('/v1/admin/users')) return;
  const body = request.body as { role?: unknown } | undefined;
  if (body?.role === 'admin') throw new ForbiddenError('only an admin can make an admin');
  const id = (request.params as { id?: unknown } | undefined)?.id;
  if (typeof id !== 'string' || !id.startsWith('usr_')) return;
  const target = await findUserById(ctx.store.db, id);
  if (target && !covers(held, await consoleScopes(ctx.store.db, id, target.tenant_id, target.role)))
    throw new ForbiddenError('the account holds more than the caller: only its peers manage it');
}
