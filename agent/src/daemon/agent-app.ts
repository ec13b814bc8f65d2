import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync } from 'fastify';
import Fastify from 'fastify';
import { readAgentStatus } from '../data-dir/agent-status.js';
import { LoopbackOnlyError } from '../errors.js';
import type { AgentStore } from '../store/agent-store.js';
import { answerAgentError, installAgentErrorHandling } from './error-handling.js';
import { localSecretAuth } from './local-secret-auth.js';
import { isLoopbackAddress, isLoopbackHost } from './loopback.js';
import { UiSession } from './ui/ui-session.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The sign-in page's cookie session of this daemon run; the page feature hands it out. */
    uiSession: UiSession;
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
}

/**
 * The agent's loopback API (DESIGN §8). Before anything else each request must come from a
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
  const uiSession = new UiSession();
  app.decorate('uiSession', uiSession);
  app.addHook('onRequest', localSecretAuth(options.localSecret, uiSession));

  app.get('/v1/status', { config: { anonymous: true } }, async () =>
    readAgentStatus(options.store),
  );
  for (const feature of options.features ?? []) await app.register(feature);
  return app;
}
