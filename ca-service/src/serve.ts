import type { Clock } from '@lantern/shared';
import { createRedactor, runEvery, systemClock } from '@lantern/shared';
import { readFileSync } from 'node:fs';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import Fastify from 'fastify';
import type { CaContext } from './context/ca-context.js';
import { installErrorHandling } from './http/error-handler.js';
import { metricsRoute } from './observability/http-observability.js';
import { buildApp } from './app.js';
import { openCa } from './data-dir/open-ca.js';
import { reachableUrl, writeRuntimeFile } from './data-dir/runtime-file.js';
import { acquireServeLock } from './data-dir/serve-lock.js';
import { dataDirPaths } from './data-dir/paths.js';
import { backboneRelayStatus, startEventBackbone } from './event-backbone.js';
import { natsConnected } from './observability/readiness.js';
import type { TracingConfig } from './observability/otel-sdk.js';
import { startTracing } from './observability/otel-sdk.js';
import type { WebAuthnConfig } from './mfa/webauthn-config.js';
import { smtpMailer } from './self-service/mailer.js';

const ROTATION_CHECK_MS = 3_600_000;
/**
 * How soon an instance takes up a token-key change another instance made (a revoked key, a
 * replaced ring): until then it still signs with and publishes the old keys. One version read
 * per interval.
 */
const KEY_REFRESH_MS = 2_000;
const CA_VERSION = '0.1.0';

export interface ServeOptions {
  dataDir: string;
  /** A PostgreSQL URL that several instances share; else the one `init` recorded, or SQLite. */
  database?: string;
  passphrase: string;
  port: number;
  host: string;
  clock?: Clock;
  enrollRateLimitPerMinute?: number;
  /**
   * NATS server URL(s), comma-separated for a cluster: without it the outbox waits and nothing is
   * lost (docs/architecture.md §7).
   */
  nats?: string;
  /** Replicas of the streams the relay creates (`--nats-replicas`; 3 on a JetStream cluster). */
  natsReplicas?: number;
  /** Relying party for passkeys of the web origin (`--webauthn-rp-id`, `--webauthn-origins`). */
  webauthn?: Partial<WebAuthnConfig>;
  /** Where devices and admins reach this CA (`--public-url`); the one set at `init` otherwise. */
  publicUrl?: string;
  /** `/metrics` answers only this bearer token (`LANTERN_METRICS_TOKEN`). */
  metricsToken?: string;
  /** `HOST:PORT` of a separate listener for `/metrics` (`--metrics-listen`); the main port drops it. */
  metricsListen?: { host: string; port: number };
  /** Export spans over OTLP (from the `OTEL_*` variables, `tracingConfigFromEnv`); none: no SDK. */
  tracing?: TracingConfig;
  /** The PIN of the PKCS#11 token holding the CA keys, for a CA `init` put there. */
  pkcs11?: { pin: string; modulePath?: string };
  /** SMTP for self-service mail (`--smtp-url`, `LANTERN_SMTP_URL`) and its sender address. */
  smtp?: { url: string; from: string };
  /** Accept `http://127.0.0.1` webhook endpoints (`--webhooks-allow-loopback-http`; dev/test). */
  webhooksAllowLoopbackHttp?: boolean;
  /** Load balancers whose `X-Forwarded-For` names the client (`--trust-proxy`). */
  trustedProxies?: readonly string[];
}

export interface RunningCa {
  url: string;
  /** The CA's name for itself (its tokens' `iss`), set at `init`. */
  issuer: string;
  publicUrls: readonly string[];
  /** Set when the public URL does not seem to lead here (see `publicUrlMismatch`). */
  publicUrlWarning: string | null;
  /** The separate `/metrics` listener, when one was asked for. */
  metricsUrl?: string;
  app: FastifyInstance;
  closed: Promise<void>;
  close(): Promise<void>;
}

/** `lantern-ca serve`: stops cleanly on SIGINT/SIGTERM (in-flight requests finish, SQLite closes). */
export async function serve(options: ServeOptions): Promise<RunningCa> {
  const lock = acquireServeLock(options.dataDir);
  try {
    return await serveLocked(options, lock.release);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function serveLocked(options: ServeOptions, releaseLock: () => void): Promise<RunningCa> {
  const ca = await openCa({
    dataDir: options.dataDir,
    clock: options.clock ?? systemClock,
    passphrase: options.passphrase,
    ...(options.publicUrl === undefined ? {} : { publicUrls: [options.publicUrl] }),
    ...(options.pkcs11 === undefined ? {} : { pkcs11: options.pkcs11 }),
    ...(options.database === undefined ? {} : { database: options.database }),
  });
  const tracing =
    options.tracing &&
    startTracing(options.tracing, {
      logger: ca.context.logger,
      redactor: createRedactor(readFileSync(dataDirPaths(options.dataDir).logSalt, 'utf8').trim()),
      version: CA_VERSION,
    });
  const backbone = startEventBackbone({
    ctx: ca.context,
    ...(options.nats === undefined ? {} : { nats: natsServers(options.nats) }),
    ...(options.natsReplicas === undefined ? {} : { relay: { replicas: options.natsReplicas } }),
    webhooksAllowLoopback: options.webhooksAllowLoopbackHttp ?? false,
  });
  const mailer = options.smtp && smtpMailer(options.smtp.url, options.smtp.from);
  const app = await buildApp({
    context: ca.context,
    ...(mailer ? { mailer } : {}),
    webhooks: { allowLoopbackHttp: options.webhooksAllowLoopbackHttp ?? false },
    ...(options.trustedProxies === undefined ? {} : { trustedProxies: options.trustedProxies }),
    relayStatus: backboneRelayStatus(backbone, options.nats !== undefined),
    metricsEndpoint: {
      expose: options.metricsListen === undefined,
      ...(options.metricsToken === undefined ? {} : { bearerToken: options.metricsToken }),
    },
    readinessChecks:
      options.nats === undefined
        ? []
        : [natsConnected(async () => (await backbone.status()).relay.connected ?? false)],
    ...(options.enrollRateLimitPerMinute === undefined
      ? {}
      : { enrollRateLimitPerMinute: options.enrollRateLimitPerMinute }),
    ...(options.webauthn === undefined ? {} : { webauthn: options.webauthn }),
  });
  let address: string;
  try {
    address = await app.listen({ port: options.port, host: options.host });
  } catch (error) {
    await app.close();
    await backbone.stop();
    await tracing?.shutdown();
    mailer?.close();
    await ca.close();
    throw error;
  }
  const url = reachableUrl(address);
  const removeRuntimeFile = writeRuntimeFile(options.dataDir, {
    url,
    pid: process.pid,
    issuer: ca.context.publicUrl,
    publicUrls: [...ca.context.publicUrls],
    startedAt: new Date((options.clock ?? systemClock).now()).toISOString(),
  });
  const metricsApp =
    options.metricsListen && (await metricsListener(ca.context, options.metricsToken));
  const metricsUrl =
    metricsApp && options.metricsListen
      ? await metricsApp.listen(options.metricsListen)
      : undefined;
  const rotation = runEvery(ROTATION_CHECK_MS, () => rotateTokenKeys(ca.context));
  const keyRefresh = runEvery(KEY_REFRESH_MS, () => refreshTokenKeys(ca.context));
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= Promise.all([
      app.close(),
      metricsApp?.close(),
      rotation.stop(),
      keyRefresh.stop(),
    ]).then(async () => {
      await backbone.stop();
      // After the relay stopped: its last publish spans go out with the rest.
      await tracing?.shutdown();
      mailer?.close();
      await ca.close();
      removeRuntimeFile();
      releaseLock();
      resolveClosed();
    });
    return closing;
  };
  const onSignal = () => void close();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    url,
    issuer: ca.context.publicUrl,
    publicUrls: ca.context.publicUrls,
    publicUrlWarning: publicUrlMismatch(ca.context.publicUrls[0] ?? ca.context.publicUrl, address),
    ...(metricsUrl ? { metricsUrl } : {}),
    app,
    closed,
    close,
  };
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const WILDCARD = new Set(['0.0.0.0', '[::]']);

/**
 * Why the public URL may not lead to this process, or null. Behind a proxy or a NAT it rightly
 * does not, so this is a warning for a human, never a refusal.
 */
function publicUrlMismatch(publicUrl: string, listenUrl: string): string | null {
  const pub = new URL(publicUrl);
  const listen = new URL(listenUrl);
  const port = (url: URL) => url.port || (url.protocol === 'https:' ? '443' : '80');
  const sameHost =
    pub.hostname === listen.hostname ||
    WILDCARD.has(listen.hostname) ||
    (LOOPBACK.has(pub.hostname) && LOOPBACK.has(listen.hostname));
  if (pub.protocol === listen.protocol && port(pub) === port(listen) && sameHost) return null;
  return (
    `the public URL ${pub.origin} is not where this process listens (${listen.origin}); ` +
    `devices and enrollment commands use the public URL, so unless a proxy forwards it here, ` +
    `restart with --public-url ${listen.origin}`
  );
}

/** The scheduled token-key rotation, counted so that a failing one alerts (IdentityJWTKeyRotationFailed). */
export async function rotateTokenKeys(ctx: CaContext): Promise<void> {
  try {
    const change = await ctx.tokenKeys.scheduledRotation();
    if (change.rotation || change.removedKids.length > 0) {
      ctx.logger.info(
        { event: 'jwks.rotation', ...change.rotation, removedKids: change.removedKids },
        'token keys rotated',
      );
    }
    ctx.metrics.jwksRotations.inc({ result: change.rotation ? 'rotated' : 'unchanged' });
  } catch (error) {
    ctx.metrics.jwksRotations.inc({ result: 'failed' });
    ctx.logger.error({ event: 'jwks.rotation_failed', err: error }, 'token key rotation failed');
  }
}

/** Takes up a key ring another CA instance changed (PostgreSQL store); logged, never fatal. */
async function refreshTokenKeys(ctx: CaContext): Promise<void> {
  try {
    if (await ctx.tokenKeys.refresh()) {
      ctx.logger.info(
        { event: 'jwks.refreshed', activeKid: ctx.tokenKeys.activeKid },
        'token keys changed by another CA instance',
      );
    }
  } catch (error) {
    ctx.logger.error(
      { event: 'jwks.refresh_failed', err: error },
      'could not re-read the token keys',
    );
  }
}

/** A listener that serves `/metrics` alone, for a port only the scraper can reach. */
async function metricsListener(
  ctx: CaContext,
  token: string | undefined,
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    disableRequestLogging: true,
  });
  installErrorHandling(app);
  metricsRoute(app, ctx, token);
  return app;
}

function natsServers(list: string): string[] {
  return list
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url.length > 0);
}
