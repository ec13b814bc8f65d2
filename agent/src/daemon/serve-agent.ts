import { createHmac } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Clock, LoggerConfig } from '@lantern/shared';
import { createLogger } from '@lantern/shared';
import { agentPaths } from '../data-dir/agent-paths.js';
import { ensureLocalSecret } from '../data-dir/local-secret.js';
import { LoopbackOnlyError } from '../errors.js';
import { openAgentStore } from '../store/agent-store.js';
import { buildAgentApp } from './agent-app.js';
import { DEFAULT_AGENT_HOST, isLoopbackHost } from './loopback.js';

export interface ServeAgentOptions {
  dataDir: string;
  clock: Clock;
  /** 0 picks a free port. */
  port: number;
  /** Loopback only: 127.0.0.1 (default), another 127.x address, ::1 or localhost. */
  host?: string;
  features?: readonly FastifyPluginAsync[];
  /** Where the JSON request log goes; no log without it. */
  logDestination?: LoggerConfig['destination'];
}

export interface RunningAgent {
  url: string;
  /**
   * The one-time link that opens the sign-in page with a page session: for the browser that
   * whoever started the agent opens, never for anyone else (see `UiSession`).
   */
  launchUrl: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/**
 * `lantern-agent serve`: the loopback API over the data directory's store. It runs before
 * enrollment too, so a local UI can show "not enrolled" instead of failing to connect. A
 * non-loopback host is refused before anything is opened.
 */
export async function serveAgent(options: ServeAgentOptions): Promise<RunningAgent> {
  const host = options.host ?? DEFAULT_AGENT_HOST;
  if (!isLoopbackHost(host)) {
    throw new LoopbackOnlyError(`refusing to listen on ${host}: the agent API is loopback only`);
  }
  const paths = agentPaths(options.dataDir);
  const store = openAgentStore(paths.database, { clock: options.clock });
  let app: FastifyInstance | undefined;
  try {
    const localSecret = await ensureLocalSecret(paths.localSecret);
    app = await buildAgentApp({
      store,
      localSecret,
      clock: options.clock,
      ...(options.features ? { features: options.features } : {}),
      ...(options.logDestination
        ? { logger: agentLogger(localSecret, options.logDestination) }
        : {}),
    });
    const url = await app.listen({ host, port: options.port });
    const running = app;
    let closing: Promise<void> | undefined;
    return {
      url,
      launchUrl: running.launchUrl(),
      app: running,
      close: () => {
        closing ??= running.close().then(() => store.close());
        return closing;
      },
    };
  } catch (error) {
    await app?.close();
    store.close();
    throw error;
  }
}

/**
 * The redacting logger hashes user ids and emails with a salt that must be secret per install;
 * deriving it from the local secret avoids a second secret file, and the HMAC keeps the secret
 * itself out of anything the logger sees.
 */
function agentLogger(
  localSecret: string,
  destination: LoggerConfig['destination'],
): FastifyBaseLogger {
  const salt = createHmac('sha256', localSecret).update('lantern-agent log salt v1').digest('hex');
  return createLogger({ service: 'lantern-agent', salt, destination }) as FastifyBaseLogger;
}
