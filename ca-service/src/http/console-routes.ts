import rateLimit from '@fastify/rate-limit';
import { ForbiddenError, InvalidRequestError, ServiceUnavailableError } from '@lantern/shared';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { readFileSync } from 'node:fs';
import { authenticateApiKey, authorize } from '../api-keys/api-keys.js';
import { login } from '../signin/password-signin.js';
import { logout } from '../auth/refresh.js';
import { assertSameOrigin, consoleCookie } from '../console/console-auth.js';
import type { ConsoleIdentity } from '../console/console-sessions.js';
import {
  CONSOLE_COOKIE,
  CSRF_HEADER,
  consoleScopes,
  consoleSessionsOf,
} from '../console/console-sessions.js';
import type { CaContext } from '../context/ca-context.js';
import { getUser } from '../users/users.js';
import { correlationIdOf } from './principal.js';

/** Where `npm run build` puts the bundle (scripts/build-console.ts), from src/ and dist/ alike. */
const BUNDLE_DIR = new URL('../../dist/admin-console/', import.meta.url);
const ASSETS = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;

/** Nothing inline and nothing from elsewhere: the bundle and its stylesheet, from this origin. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Lantern admin console</title>
    <link rel="stylesheet" href="/admin/assets/app.css" />
    <script type="module" src="/admin/assets/app.js"></script>
  </head>
  <body>
    <div id="app"></div>
    <noscript>The Lantern admin console needs JavaScript.</noscript>
  </body>
</html>
`;

const signInBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    apiKey: { type: 'string', minLength: 1, maxLength: 200 },
    tenant: { type: 'string', minLength: 1, maxLength: 100 },
    username: { type: 'string', minLength: 1, maxLength: 64 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    totp: { type: 'string', pattern: '^[0-9]{6,10}$' },
  },
} as const;

type SignInBody = {
  apiKey?: string;
  tenant?: string;
  username?: string;
  password?: string;
  totp?: string;
};

function secureHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin');
}

function sessionCookie(request: FastifyRequest, value: string, maxAge?: number): string {
  return [
    `${CONSOLE_COOKIE}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    ...(request.protocol === 'https' ? ['Secure'] : []),
    ...(maxAge === undefined ? [] : [`Max-Age=${maxAge}`]),
  ].join('; ');
}

/**
 * The admin console (docs/architecture.md §8 `GET /admin/`): the page, its bundle, and its session. The page
 * only calls the public admin API; the session routes turn an API key or a tenant admin's
 * password and second factor into an HttpOnly cookie that admin routes accept (console-auth.ts).
 */
export function consoleRoutes(
  ctx: CaContext,
  options: { signInRateLimitPerMinute: number },
): FastifyPluginAsync {
  const sessions = consoleSessionsOf(ctx);
  const bundle = new Map<string, Buffer>();
  const asset = (name: keyof typeof ASSETS): Buffer => {
    let body = bundle.get(name);
    if (!body) {
      try {
        body = readFileSync(new URL(name, BUNDLE_DIR));
      } catch {
        throw new ServiceUnavailableError('the admin console is not built: run `npm run build`');
      }
      bundle.set(name, body);
    }
    return body;
  };

  const identityOf = async (
    request: FastifyRequest,
    body: SignInBody,
  ): Promise<ConsoleIdentity> => {
    if (body.apiKey !== undefined) {
      const principal = await authenticateApiKey(ctx, body.apiKey);
      authorize(principal, 'admin');
      return { kind: 'api_key', keyId: principal.keyId };
    }
    if (!body.tenant || !body.username || !body.password) {
      throw new InvalidRequestError('send an API key, or a school, username and password');
    }
    const result = await login(
      ctx,
      {
        tenant: body.tenant,
        username: body.username,
        password: body.password,
        ...(body.totp ? { totp: body.totp } : {}),
      },
      undefined,
      correlationIdOf(request),
      { ip: request.ip },
    );
    const user = await getUser(ctx, result.userId, null);
    if ((await consoleScopes(ctx.store.db, user.user_id, user.tenant_id, user.role)).length === 0) {
      await logout(ctx, result.refreshToken, correlationIdOf(request));
      throw new ForbiddenError(
        'only tenant admins (role admin) or members with an admin role or permission can sign in to the console',
      );
    }
    return {
      kind: 'user',
      userId: result.userId,
      tenantId: result.tenantId,
      username: body.username,
      sessionId: result.sessionId,
      refreshToken: result.refreshToken,
    };
  };

  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.get('/admin', { schema: { hide: true } }, async (_request, reply) =>
      reply.redirect('/admin/'),
    );
    app.get('/admin/', { schema: { hide: true } }, async (_request, reply) =>
      secureHeaders(reply)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(PAGE),
    );
    app.get(
      '/admin/assets/:name',
      {
        schema: {
          hide: true,
          params: {
            type: 'object',
            required: ['name'],
            properties: { name: { type: 'string', enum: ['app.js', 'app.css'] } },
          },
        },
      },
      async (request, reply) => {
        const { name } = request.params;
        return secureHeaders(reply)
          .header('cache-control', 'no-cache')
          .type(ASSETS[name])
          .send(asset(name));
      },
    );

    await app.register(async (scope) => {
      await scope.register(rateLimit, {
        max: options.signInRateLimitPerMinute,
        timeWindow: 60_000,
      });
      scope
        .withTypeProvider<JsonSchemaToTsProvider>()
        .post(
          '/admin/session',
          { bodyLimit: 8 * 1024, schema: { body: signInBody } },
          async (request, reply) => {
            assertSameOrigin(ctx, request);
            sessions.end(consoleCookie(request));
            const { id, view } = sessions.create(await identityOf(request, request.body));
            return reply
              .header('set-cookie', sessionCookie(request, id))
              .header('cache-control', 'no-store')
              .status(201)
              .send(view);
          },
        );
    });

    app.get('/admin/session', async (request, reply) =>
      reply.header('cache-control', 'no-store').send(await sessions.view(consoleCookie(request))),
    );

    app.delete('/admin/session', async (request, reply) => {
      assertSameOrigin(ctx, request);
      const cookie = consoleCookie(request);
      const { session } = await sessions.touch(cookie);
      const presented = request.headers[CSRF_HEADER];
      sessions.checkCsrf(session, typeof presented === 'string' ? presented : undefined);
      const identity = sessions.end(cookie);
      if (identity?.kind === 'user')
        await logout(ctx, identity.refreshToken, correlationIdOf(request));
      return reply
        .header('set-cookie', sessionCookie(request, '', 0))
        .status(204)
        .send();
    });
  };
}
