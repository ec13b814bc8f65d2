import type { Clock } from '@lantern/shared';
import { systemClock } from '@lantern/shared';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { openCa } from './data-dir/open-ca.js';
import { startEventBackbone } from './outbox/event-backbone.js';
import { natsConnected } from './observability/readiness.js';
import type { WebAuthnConfig } from './mfa/webauthn-config.js';

const ROTATION_CHECK_MS = 3_600_000;

export interface ServeOptions {
  dataDir: string;
  passphrase: string;
  port: number;
  host: string;
  clock?: Clock;
  enrollRateLimitPerMinute?: number;
  /** NATS server URL(s): without it the outbox waits and nothing is lost (DESIGN §7). */
  nats?: string;
  /** Relying party for passkeys of the web origin (`--webauthn-rp-id`, `--webauthn-origins`). */
  webauthn?: Partial<WebAuthnConfig>;
}

export interface RunningCa {
  url: string;
  app: FastifyInstance;
  closed: Promise<void>;
  close(): Promise<void>;
}

/** `lantern-ca serve`: stops cleanly on SIGINT/SIGTERM (in-flight requests finish, SQLite closes). */
export async function serve(options: ServeOptions): Promise<RunningCa> {
  const ca = await openCa({
    dataDir: options.dataDir,
    clock: options.clock ?? systemClock,
    passphrase: options.passphrase,
  });
  const backbone = startEventBackbone({
    ctx: ca.context,
    ...(options.nats === undefined ? {} : { nats: options.nats }),
  });
  const app = await buildApp({
    context: ca.context,
    relayStatus: () => backbone.status().relay,
    readinessChecks:
      options.nats === undefined
        ? []
        : [natsConnected(() => backbone.status().relay.connected ?? false)],
    ...(options.enrollRateLimitPerMinute === undefined
      ? {}
      : { enrollRateLimitPerMinute: options.enrollRateLimitPerMinute }),
    ...(options.webauthn === undefined ? {} : { webauthn: options.webauthn }),
  });
  const address = await app.listen({ port: options.port, host: options.host });
  const rotation = setInterval(() => {
    const change = ca.context.tokenKeys.scheduledRotation();
    if (change.rotation || change.removedKids.length > 0) {
      ca.context.logger.info(
        { event: 'jwks.rotation', ...change.rotation, removedKids: change.removedKids },
        'token keys rotated',
      );
    }
  }, ROTATION_CHECK_MS);
  rotation.unref();
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  let closing: Promise<void> | undefined;
  const close = () => {
    clearInterval(rotation);
    closing ??= app.close().then(async () => {
      await backbone.stop();
      ca.close();
      resolveClosed();
    });
    return closing;
  };
  const onSignal = () => void close();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { url: address, app, closed, close };
}
