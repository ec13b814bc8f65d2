import { ForbiddenError } from '@lantern/shared';
import type { FastifyRequest } from 'fastify';
import type { CaContext } from '../context/ca-context.js';

/**
 * A tenant admin account (user role `admin`) carries every scope of its tenant, so making one,
 * or changing one's role, email, password, lock, sessions or SSO link, is worth `admin` itself:
 * a caller with only `users:write` (a key, or a console user holding `user_manager`) could
 * otherwise promote itself, or re-address an admin and mail itself a reset link.
 */
export function assertMayManageAccount(ctx: Pick<CaContext, 'store'>, request: FastifyRequest) {
  if (request.admin.principal.scopes.includes('admin')) return;
  if (request.method === 'GET' || request.method === 'HEAD') return;
  const url = request.routeOptions.url ?? '';
  if (!url.startsWith('/v1/admin/users')) return;
  const body = request.body as { role?: unknown } | undefined;
  if (body?.role === 'admin') throw new ForbiddenError('only an admin can make an admin');
  const id = (request.params as { id?: unknown } | undefined)?.id;
  if (typeof id !== 'string' || !id.startsWith('usr_')) return;
  const target = ctx.store.db.prepare('SELECT role FROM users WHERE user_id = ?').get(id) as
    { role: string } | undefined;
  if (target?.role === 'admin') throw new ForbiddenError('only an admin can manage an admin');
}
