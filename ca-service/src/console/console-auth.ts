import { ForbiddenError } from '@lantern/shared';
import type { FastifyRequest } from 'fastify';
import type { ApiKeyPrincipal } from '../api-keys/api-keys.js';
import type { CaContext } from '../context/ca-context.js';
import { CONSOLE_COOKIE, CSRF_HEADER, consoleSessionsOf } from './console-sessions.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The console session id from the Cookie header (no cookie plugin: one cookie, read here only). */
export function consoleCookie(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === CONSOLE_COOKIE) return value.join('=') || undefined;
  }
  return undefined;
}

/**
 * A state-changing request must come from the console's own page: the browser's Origin header
 * names this service, as the request reached it or as its public URL says (behind a TLS proxy
 * the two differ in scheme). SameSite=Strict already keeps the cookie off cross-site requests;
 * this is the second lock, for older browsers and same-site subdomains.
 */
export function assertSameOrigin(ctx: Pick<CaContext, 'publicUrl'>, request: FastifyRequest): void {
  const origin = request.headers.origin;
  const own = `${request.protocol}://${request.host}`;
  if (origin === undefined || (origin !== own && origin !== new URL(ctx.publicUrl).origin)) {
    throw new ForbiddenError('a console change must come from the console page itself (Origin)');
  }
}

/** The caller of an admin route who holds a console session cookie instead of an API key. */
export async function consolePrincipal(
  ctx: Pick<CaContext, 'ca' | 'clock' | 'publicUrl' | 'store'>,
  request: FastifyRequest,
  cookie: string,
): Promise<ApiKeyPrincipal> {
  const sessions = consoleSessionsOf(ctx);
  const { session, principal } = await sessions.touch(cookie);
  if (!SAFE_METHODS.has(request.method)) {
    assertSameOrigin(ctx, request);
    const presented = request.headers[CSRF_HEADER];
    sessions.checkCsrf(session, typeof presented === 'string' ? presented : undefined);
  }
  return principal;
}
