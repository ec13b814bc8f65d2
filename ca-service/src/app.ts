import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import Fastify from 'fastify';
import type { CaContext } from './context/ca-context.js';
import { accountAdminRoutes } from './http/account-admin-routes.js';
import { adminApi } from './http/admin-api.js';
import { adminRoutes } from './http/admin-routes.js';
import { authRoutes } from './http/auth-routes.js';
import { caRoutes } from './http/ca-routes.js';
import { schemaRoutes } from './http/schema-routes.js';
import { consoleAdminRoutes } from './http/console-admin-routes.js';
import { consoleRoutes } from './http/console-routes.js';
import { deviceRoutes } from './http/device-routes.js';
import { enrollmentRoutes } from './http/enrollment-routes.js';
import { eventRoutes } from './http/event-routes.js';
import { invitationRoutes, memberAdminRoutes } from './http/member-routes.js';
import { mfaAdminRoutes, mfaRoutes } from './http/mfa-routes.js';
import { riskAdminRoutes } from './http/risk-routes.js';
import { DOCS_CSP, SECURITY_SCHEMES, documentRoute } from './http/openapi-docs.js';
import { webauthnAdminRoutes, webauthnRoutes } from './http/webauthn-routes.js';
import type { WebAuthnConfig } from './mfa/webauthn-config.js';
import { webAuthnConfig } from './mfa/webauthn-config.js';
import { ssoAdminRoutes, ssoRoutes } from './http/sso-routes.js';
import { syncRoutes } from './http/sync-routes.js';
import { selfServiceRoutes } from './http/self-service-routes.js';
import { selfServiceAdminRoutes } from './http/self-service-admin-routes.js';
import { webhookRoutes } from './http/webhook-routes.js';
import type { Mailer } from './self-service/mailer.js';
import type { WebhookSettings } from './webhooks/webhook-subscriptions.js';
import { answerError, installErrorHandling } from './http/error-handler.js';
import { healthRoutes, storeWritable } from './http/health-routes.js';
import { routeValidators } from './http/route-validators.js';
import { AccessLogController, installObservability } from './observability/http-observability.js';
import type { MetricsEndpointOptions } from './observability/http-observability.js';
import type { RelayStatusProvider } from './observability/metrics.js';
import type { ReadinessCheck } from './observability/readiness.js';
import { signerLoaded } from './observability/readiness.js';
import { CrlPublisher } from './revocation/crl-publisher.js';

export interface BuildAppOptions {
  context: CaContext;
  enrollRateLimitPerMinute?: number;
  loginRateLimitPerMinute?: number;
  /** Sign-ins per client address and account; default a twentieth of the per-client limit. */
  loginPerAccountRateLimitPerMinute?: number;
  bodyLimitBytes?: number;
  /** Extra `/health/ready` checks, e.g. `natsConnected(...)` when the event backbone uses NATS. */
  readinessChecks?: readonly ReadinessCheck[];
  /** Feeds `identity_outbox_depth`, `identity_outbox_lag_seconds`, `identity_dlq_depth`. */
  relayStatus?: RelayStatusProvider;
  /** `/metrics` on this app or not, and behind a bearer token or not (default: open, here). */
  metricsEndpoint?: MetricsEndpointOptions;
  /** Relying party for passkeys of the web origin; rpId defaults to `localhost`. */
  webauthn?: Partial<WebAuthnConfig>;
  /** Slow-client limits in milliseconds; the defaults are in `DEFAULT_TIMEOUTS`. */
  timeouts?: Partial<typeof DEFAULT_TIMEOUTS>;
  /** SMTP for email verification and password reset; without it those routes are absent. */
  mailer?: Mailer;
  /** Which webhook endpoints admins may subscribe (https only unless loopback http is allowed). */
  webhooks?: WebhookSettings;
  /**
   * Addresses or CIDR blocks of the load balancers in front (`--trust-proxy`): only a request whose
   * TCP peer is one of them has its client address taken from `X-Forwarded-For`. Without them the
   * peer is the client, so a header no proxy vouches for changes nothing.
   */
  trustedProxies?: readonly string[];
}

/**
 * Set on purpose (Node's own defaults let a socket idle for ever and check deadlines every
 * 30 s): a client that sends headers and then stalls, or trickles bytes, holds a connection for
 * at most `idleMs`, or `requestMs` plus one `checkIntervalMs`. 30 s still carries the largest
 * body (a 2 MiB sync push) over a slow school uplink.
 */
export const DEFAULT_TIMEOUTS = {
  idleMs: 30_000,
  requestMs: 30_000,
  keepAliveMs: 10_000,
  checkIntervalMs: 5_000,
};

/** The CA's HTTP face: one encapsulated plugin per feature, every error as `{ code, message }`. */
export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const ctx = options.context;
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const loginLimit = options.loginRateLimitPerMinute ?? 600;
  const app = Fastify({
    loggerInstance: ctx.logger as FastifyBaseLogger,
    logController: new AccessLogController(),
    // Routes that take more (sync pushes) or much less (sign-in, TOTP) set their own.
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    connectionTimeout: timeouts.idleMs,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: { connectionsCheckingInterval: timeouts.checkIntervalMs },
    return503OnClosing: true,
    trustProxy: options.trustedProxies?.length ? [...options.trustedProxies] : false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    schemaController: { compilersFactory: { buildValidator: routeValidators } },
    genReqId: () => ctx.ids.next('evt').slice(4),
    // The router answers a bad URL itself, in Fastify's shape, unless told to use ours.
    frameworkErrors: answerError,
  });
  installErrorHandling(app);
  if (options.relayStatus) ctx.metrics.relayStatus = options.relayStatus;
  installObservability(app, ctx, options.metricsEndpoint);
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Lantern CA',
        version: '0.1.0',
        description:
          'Device enrollment, binding certificates, revocation, sign-in, sync and the event API. ' +
          'Errors are { code, message }; the codes are listed in docs/errors.md.',
      },
      components: { securitySchemes: SECURITY_SCHEMES },
    },
    transform: documentRoute,
  });
  // The rendered reference, from files in this package only: no CDN, no validator call-outs.
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: DOCS_CSP,
    uiConfig: { validatorUrl: null, deepLinking: true },
  });
  const crls = new CrlPublisher(ctx);
  await app.register(
    healthRoutes([storeWritable(ctx), signerLoaded(ctx), ...(options.readinessChecks ?? [])]),
  );
  await app.register(caRoutes(ctx, crls));
  await app.register(schemaRoutes(ctx));
  await app.register(
    enrollmentRoutes(ctx, { rateLimitPerMinute: options.enrollRateLimitPerMinute ?? 60 }),
  );
  await app.register(deviceRoutes(ctx));
  await app.register(
    authRoutes(ctx, {
      loginRateLimitPerMinute: loginLimit,
      loginPerAccountRateLimitPerMinute:
        options.loginPerAccountRateLimitPerMinute ?? Math.max(1, Math.ceil(loginLimit / 20)),
    }),
  );
  await app.register(
    adminApi(ctx, [
      adminRoutes(ctx, crls),
      accountAdminRoutes(ctx),
      mfaAdminRoutes(ctx),
      riskAdminRoutes(ctx),
      webauthnAdminRoutes(ctx),
      eventRoutes(ctx),
      consoleAdminRoutes(ctx),
      memberAdminRoutes(ctx, options.mailer),
      webhookRoutes(ctx, options.webhooks ?? { allowLoopbackHttp: false }),
      ...(options.mailer ? [selfServiceAdminRoutes(ctx, options.mailer)] : []),
      ssoAdminRoutes(ctx),
    ]),
  );
  if (options.mailer) await app.register(selfServiceRoutes(ctx, { mailer: options.mailer }));
  await app.register(mfaRoutes(ctx));
  await app.register(
    webauthnRoutes(ctx, webAuthnConfig(ctx.publicUrl, options.webauthn), {
      loginRateLimitPerMinute: options.loginRateLimitPerMinute ?? 600,
    }),
  );
  await app.register(ssoRoutes(ctx, { rateLimitPerMinute: loginLimit }));
  await app.register(syncRoutes(ctx));
  await app.register(consoleRoutes(ctx, { signInRateLimitPerMinute: loginLimit }));
  await app.register(invitationRoutes(ctx, { rateLimitPerMinute: loginLimit }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
