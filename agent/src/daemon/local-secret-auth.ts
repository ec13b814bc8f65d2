import { timingSafeEqual } from 'node:crypto';
import { sha256 } from '@lantern/shared';
import type { onRequestAsyncHookHandler } from 'fastify';
import { ForbiddenError, UnauthorizedError } from '@lantern/shared';
import type { UiSession } from './ui/ui-session.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Serve this route without the local API secret (status, the sign-in UI page). */
    anonymous?: boolean;
    /** Only the local API secret will do, never the page's cookie (minting page sessions). */
    secretOnly?: boolean;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * Every route needs `Authorization: Bearer <local API secret>` unless it opts out with
 * `config: { anonymous: true }`: deny by default, so a route a feature forgets to mark is
 * closed, not open. Unknown routes are refused too, so probing learns nothing. Both sides are
 * hashed before the constant-time compare, which needs equal lengths and would otherwise leak
 * the secret's length.
 *
 * The sign-in page authenticates with its cookie instead (`UiSession`). SameSite does not
 * look at ports, so a page of any other local web server is "same site" and its requests carry
 * the cookie: a cookie-authenticated call that changes anything must also come with an
 * `Origin` that is exactly this server's.
 */
export function localSecretAuth(secret: string, ui?: UiSession): onRequestAsyncHookHandler {
  const expected = sha256(secret);
  return async (request, reply) => {
    if (request.routeOptions.config?.anonymous === true) return;
    const presented = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (presented !== undefined && timingSafeEqual(sha256(presented), expected)) return;
    const secretOnly = request.routeOptions.config?.secretOnly === true;
    if (
      !secretOnly &&
      presented === undefined &&
      ui?.presentedIn(request.headers.cookie) === true
    ) {
      if (SAFE_METHODS.has(request.method)) return;
      if (request.headers.origin === `http://${request.host}`) return;
      throw new ForbiddenError(
        'the sign-in page session only works from the page itself (Origin must be this agent)',
      );
    }
    reply.header('www-authenticate', 'Bearer realm="lantern-agent"');
    throw new UnauthorizedError(
      'send Authorization: Bearer <local API secret> (the secrets/local-api-secret file of the agent data directory)',
    );
  };
}
