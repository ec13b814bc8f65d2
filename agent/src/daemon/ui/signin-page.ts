import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '@lantern/shared';
import { agentPaths } from '../../data-dir/agent-paths.js';
import { openAgentStore } from '../../store/agent-store.js';
import { pageMessages } from './page-messages.js';
import { renderSigninPage } from './signin-page-html.js';

export interface SigninPageOptions {
  dataDir: string;
  clock: Clock;
}

/**
 * `GET /` (DESIGN §8): the sign-in page the Electron shell hosts, and the page's cookie session
 * (see `UiSession`). It loads nothing from anywhere, and says so in its CSP: scripts and
 * styles only with this response's nonce, requests only to this agent, no framing (a framed
 * sign-in form is a clickjacking target), no referrer, no caching of a page with a cookie.
 */
export function signinPage(options: SigninPageOptions): FastifyPluginAsync {
  const messages = pageMessages();
  return async (app) => {
    const store = openAgentStore(agentPaths(options.dataDir).database, { clock: options.clock });
    app.addHook('onClose', async () => store.close());
    const usernames = store.db
      .prepare<[number], string>(
        `SELECT DISTINCT username FROM grants WHERE revoked = 0 AND offline_until > ?
         ORDER BY username LIMIT 200`,
      )
      .pluck();
    app.get('/', { config: { anonymous: true } }, async (_request, reply) => {
      const nonce = randomBytes(16).toString('base64');
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
        .header('x-content-type-options', 'nosniff')
        .header('set-cookie', app.uiSession.setCookieHeader())
        .type('text/html; charset=utf-8')
        .send(
          renderSigninPage({
            nonce,
            usernames: usernames.all(options.clock.now()),
            messages,
          }),
        );
    });
  };
}
