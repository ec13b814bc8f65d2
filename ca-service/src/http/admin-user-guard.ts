import type { FastifyRequest } from 'fastify';
import { authorize } from '../api-keys/api-keys.js';

/**
 * Making an admin user, unmaking one, or changing one's password or email (a reset link follows
 * the email) is an admin's act: a role of `admin` signs in to the console with the tenant's
 * `admin` scope (console-sessions.ts), so `users:write` alone would mint or take over one.
 */
export function requireAdminScopeFor(
  request: FastifyRequest,
  roles: readonly (string | undefined)[],
): void {
  if (!roles.includes('admin')) return;
  authorize(request.admin.principal, 'admin', request.admin.tenantId ?? undefined);
}
