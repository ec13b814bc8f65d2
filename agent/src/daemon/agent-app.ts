import type { AddressInfo } from 'node:net';
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync } from 'fastify';
import Fastify from 'fastify';
import type { Clock } from '@lantern/shared';
import { readAgentStatus } from '../data-dir/agent-status.js';
import { LoopbackOnlyError } from '../errors.js';
import type { AgentStore } from '../store/agent-store.js';
import { answerAgentError, installAgentErrorHandling } from './error-handling.js';
import { localSecretAuth } from './local-secret-auth.js';
import { isLoopbackAddress, isLoopbackHost } from './loopback.js';
import { UiSession } from './ui/ui-session.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The sign-in page's launch links and cookie sessions of this daemon run. */
    uiSession: UiSession;
    /** A fresh one-time link that opens the sign-in page with a page session. */
    launchUrl(): string;
  }
}

export interface AgentAppOptions {
  store: AgentStore;
  /** The per-install local API secret (see `ensureLocalSecret`). */
  localSecret: string;
  /**
   * Feature routes (sign-in, verify, passkeys, TOTP). They sit behind the local-secret check
   * (or the sign-in page's cookie, `app.uiSession`) like every route; one that must be reachable
   * without it (the sign-in page) says so with `config: { anonymous: true }`.
   */
  features?: readonly FastifyPluginAsync[];
  logger?: FastifyBaseLogger;
  bodyLimitBytes?: number;
  /** For the launch links' lifetime. */
  clock?: Clock;
}

/**
 * The agent's loopback API (docs/architecture.md §8). Before anything else each request must come from a
 * loopback peer and name a loopback host: the first holds even if someone listens on another
 * interface, the second stops DNS rebinding, where a web page gets its own host name resolved
 * to 127.0.0.1 and the browser then lets it read the answers.
 */
export async function buildAgentApp(options: AgentAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: options.bodyLimitBytes ?? 64 * 1024,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 10_000,
    return503OnClosing: true,
    // A bad percent-encoding or an over-long path segment: ours, not Fastify's error shape.
    frameworkErrors: answerAgentError,
  });
  installAgentErrorHandling(app);
  app.addHook('onRequest', async (request) => {
    if (!isLoopbackAddress(request.ip) || !isLoopbackHost(request.hostname)) {
      throw new LoopbackOnlyError();
    }
  });
  const uiSession = new UiSession(options.clock ? { clock: options.clock } : {});
  app.decorate('uiSession', uiSession);
  // `localhost`, not the listen address: the page registers passkeys for that host name.
  app.decorate('launchUrl', () => {
    const port = (app.server.address() as AddressInfo | null)?.port ?? 0;
    return `http://localhost:${port}/?launch=${uiSession.issueLaunch().nonce}`;
  });
  app.addHook('onRequest', localSecretAuth(options.localSecret, uiSession));

  // For whoever holds the local secret (the desktop shell, `lantern-agent page`): a page
  // session must never be reachable from the page's own cookie or from nothing.
  app.post('/v1/ui/launch', { config: { secretOnly: true } }, async () => ({
    url: app.launchUrl(),
  }));

  app.get('/v1/status', { config: { anonymous: true } }, async () =>
    readAgentStatus(options.store),
  );
  for (const feature of options.features ?? []) await app.register(feature);
  return app;
}
