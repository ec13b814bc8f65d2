import type { FastifyRequest } from 'fastify';
import type { ApiKeyPrincipal } from '../api-keys/api-keys.js';
import { authenticateApiKey } from '../api-keys/api-keys.js';
import { consoleCookie, consolePrincipal } from '../console/console-auth.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { noteRequestActor } from '../observability/tracing.js';

export function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

/** An admin API key (`Authorization: Bearer`), else the admin console's session cookie. */
export async function adminPrincipal(
  ctx: CaContext,
  request: FastifyRequest,
): Promise<ApiKeyPrincipal> {
  const key = bearer(request);
  const cookie = key === undefined ? consoleCookie(request) : undefined;
  const principal =
    cookie !== undefined
      ? await consolePrincipal(ctx, request, cookie)
      : await authenticateApiKey(ctx, key);
  noteRequestActor(principal.tenantId ?? undefined, 'admin');
  return principal;
}

export function correlationIdOf(request: FastifyRequest): string {
  const traceparent = request.headers['traceparent'];
  const traceId =
    typeof traceparent === 'string' ? /^00-([0-9a-f]{32})-/.exec(traceparent)?.[1] : undefined;
  return traceId ?? request.id;
}

export function adminMeta(principal: ApiKeyPrincipal, request: FastifyRequest): CommandMeta {
  return {
    actor: principal.actor ?? { type: 'api_key', id: principal.keyId },
    correlationId: correlationIdOf(request),
  };
}
