import { createHash, timingSafeEqual } from 'node:crypto';
import type { onRequestAsyncHookHandler } from 'fastify';
import { UnauthorizedError } from '@lantern/shared';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Serve this route without the local API secret (status, the sign-in UI page). */
    anonymous?: boolean;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/**
 * Every route needs `Authorization: Bearer <local API secret>` unless it opts out with
 * `config: { anonymous: true }`: deny by default, so a route a feature forgets to mark is
 * closed, not open. Unknown routes are refused too, so probing learns nothing. Both sides are
 * hashed before the constant-time compare, which needs equal lengths and would otherwise leak
 * the secret's length.
 */
export function localSecretAuth(secret: string): onRequestAsyncHookHandler {
  const expected = digest(secret);
  return async (request, reply) => {
    if (request.routeOptions.config?.anonymous === true) return;
    const presented = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (presented !== undefined && timingSafeEqual(digest(presented), expected)) return;
    reply.header('www-authenticate', 'Bearer realm="lantern-agent"');
    throw new UnauthorizedError(
      'send Authorization: Bearer <local API secret> (the secrets/local-api-secret file of the agent data directory)',
    );
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
