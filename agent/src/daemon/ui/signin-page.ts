import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Clock } from '@lantern/shared';
import { agentPaths } from '../../data-dir/agent-paths.js';
import { readDeviceRevocation } from '../../enforcement/device-revocation.js';
import { openAgentStore } from '../../store/agent-store.js';
import { pageMessages } from './page-messages.js';
import type { Connectivity } from '../sync-state.js';
import type { PageView } from './signin-page-html.js';
import { renderSigninPage } from './signin-page-html.js';

export interface SigninPageOptions {
  dataDir: string;
  clock: Clock;
  /** What the daemon's background sync last saw of the CA; `unknown` when not given. */
  connectivity?: () => Connectivity;
  /** BCP 47 tag for times on the page: the device's, whatever the browser's language. */
  locale?: string;
}

const GRANT_PAYLOAD = /^[^.]+\.([^.]+)\./;

/**
 * `GET /` (docs/architecture.md §8): the sign-in page the desktop shell hosts, and `POST /v1/signin/methods`,
 * which tells the page what to ask for once it has a username. The page needs a page session
 * (`UiSession`): a launch link sets the cookie and redirects to `/`, so the nonce leaves the
 * address bar and the history at once; without a session the page says how to open it and
 * shows nothing of the device's users.
 *
 * It loads nothing from anywhere, and says so in its CSP: scripts and styles only with this
 * response's nonce, requests only to this agent, no framing (a framed sign-in form is a
 * clickjacking target), no referrer, no caching of a page with a cookie.
 */
export function signinPage(options: SigninPageOptions): FastifyPluginAsync {
  const messages = pageMessages();
  const locale = options.locale ?? Intl.DateTimeFormat().resolvedOptions().locale;
  return async (app) => {
    const store = openAgentStore(agentPaths(options.dataDir).database, { clock: options.clock });
    app.addHook('onClose', async () => store.close());
    const usernames = store.db
      .prepare<[number], string>(
        `SELECT DISTINCT username FROM grants WHERE revoked = 0 AND offline_until > ?
         ORDER BY username LIMIT 200`,
      )
      .pluck();
    const newestGrant = store.db.prepare<[string], { userId: string; jws: string }>(
      `SELECT user_id AS userId, grant_jws AS jws FROM grants
       WHERE username = ? AND revoked = 0 ORDER BY received_at DESC LIMIT 1`,
    );
    const passkeysOf = store.db
      .prepare<[string], number>('SELECT count(*) FROM passkeys WHERE user_id = ?')
      .pluck();
    const anyPasskey = store.db.prepare<[], number>('SELECT count(*) FROM passkeys').pluck();
    const enrolled = store.db.prepare<[], number>('SELECT count(*) FROM binding').pluck();
    const names = store.db.prepare<[], { schoolName: string | null; deviceName: string | null }>(
      'SELECT tenant_name AS schoolName, device_name AS deviceName FROM binding WHERE id = 1',
    );

    const view = (): PageView => {
      if (enrolled.get() === 0) return { kind: 'not_enrolled' };
      const revocation = readDeviceRevocation(store);
      if (revocation?.revoked === true) return { kind: 'revoked', at: revocation.revokedAt };
      return {
        kind: 'signin',
        usernames: usernames.all(options.clock.now()),
        passkeysHere: (anyPasskey.get() ?? 0) > 0,
        ...(names.get() ?? { schoolName: null, deviceName: null }),
      };
    };

    const send = (reply: FastifyReply, status: number, pageView: PageView) => {
      const nonce = randomBytes(16).toString('base64');
      return secureHeaders(reply, nonce)
        .status(status)
        .type('text/html; charset=utf-8')
        .send(
          renderSigninPage({
            nonce,
            view: pageView,
            connectivity: options.connectivity?.() ?? 'unknown',
            locale,
            messages,
          }),
        );
    };

    app.get(
      '/',
      {
        config: { anonymous: true },
        schema: {
          querystring: {
            type: 'object',
            properties: { launch: { type: 'string', minLength: 1, maxLength: 100 } },
          },
        },
      },
      async (request, reply) => {
        const { launch } = request.query as { launch?: string };
        if (launch !== undefined) {
          const token = app.uiSession.redeemLaunch(launch);
          if (token === null) return send(reply, 403, { kind: 'locked', reason: 'launch_used' });
          return reply
            .header('set-cookie', app.uiSession.setCookieHeader(token))
            .header('cache-control', 'no-store')
            .header('referrer-policy', 'no-referrer')
            .redirect('/', 303);
        }
        if (!app.uiSession.presentedIn(request.headers.cookie)) {
          return send(reply, 401, { kind: 'locked', reason: 'no_session' });
        }
        return send(reply, 200, view());
      },
    );

    // A hint for the form, not a check: sign-in verifies the grant again and enforces it.
    app.post(
      '/v1/signin/methods',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['username'],
            properties: { username: { type: 'string', minLength: 1, maxLength: 64 } },
          },
        },
      },
      async (request) => {
        const { username } = request.body as { username: string };
        const grant = newestGrant.get(username);
        const claims = grant === undefined ? undefined : grantClaims(grant.jws);
        const mfa = Array.isArray(claims?.['mfa']) ? (claims['mfa'] as unknown[]) : [];
        return {
          secondFactor: mfa.length > 0,
          passkey: grant !== undefined && (passkeysOf.get(grant.userId) ?? 0) > 0,
        };
      },
    );
  };
}

function grantClaims(jws: string): Record<string, unknown> | undefined {
  const payload = GRANT_PAYLOAD.exec(jws)?.[1];
  if (payload === undefined) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return typeof claims === 'object' && claims !== null
      ? (claims as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function secureHeaders(reply: FastifyReply, nonce: string): FastifyReply {
  return reply
    .header(
      'content-security-policy',
      [
        "default-src 'none'",
        `script-src 'nonce-${nonce}'`,
        `style-src 'nonce-${nonce}'`,
        "connect-src 'self'",
        'img-src data:',
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
      ].join('; '),
    )
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff');
}
