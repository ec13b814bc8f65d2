import type { Clock, SyncRejectionCode } from '@lantern/shared';
import { EVENT_CATALOGUE, SSO_PROVIDERS } from '@lantern/shared';
import type { SqlDatabase } from '../store/sql-database.js';
import { createHash } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Signer } from '../pki/signer.js';

/** What the outbox relay reports about itself; undefined while no relay is configured. */
export interface RelayStatus {
  /** Events recorded but not yet published. */
  depth: number;
  /** Age of the oldest unpublished event, in seconds (0 when the outbox is empty). */
  lagSeconds: number;
  /** Messages the relay parked in the dead-letter queue. */
  dlq: number;
  /** Messages the inbox parked in the dead-letter queue. */
  inboxDlq?: number;
  /** False when no broker is configured (`--nats`): nothing drains the outbox, by design. */
  enabled?: boolean;
}

export type RelayStatusProvider = () => Promise<RelayStatus | undefined> | RelayStatus | undefined;

/**
 * What the gauges read from the features' tables at each scrape: handed in, since observability
 * sits below those features. Times are ISO 8601.
 */
export interface FeatureReadings {
  tenantIds(): Promise<string[]>;
  activeUsers(): Promise<{ userId: string; tenantId: string }[]>;
  /** Users with a second factor (TOTP or passkey) enrolled. */
  usersWithSecondFactor(): Promise<Set<string>>;
  /** Sessions active and not expired at `now`, by tenant (a tenant without any may be absent). */
  activeSessionsByTenant(now: string): Promise<Map<string, number>>;
  /** Active devices whose binding certificate expires after `from` and by `to`. */
  devicesExpiringBetween(from: string, to: string): Promise<number>;
  /** API keys usable at `now` and created at or before `createdBy`. */
  usableApiKeysCreatedBy(now: string, createdBy: string): Promise<number>;
}

export interface CaMetricsOptions {
  db: SqlDatabase;
  readings: FeatureReadings;
  clock: Clock;
  relayStatus?: RelayStatusProvider;
  /** Process and Node.js runtime metrics (`process_*`, `nodejs_*`) in the same registry. */
  defaultMetrics?: boolean;
  /**
   * Label values that belong to the features counted (why an admin revokes a device, which
   * subjects the inbox consumes): handed in, since observability sits below those features.
   */
  knownLabels: {
    deviceRevocationReasons: readonly string[];
    inboxSubjects: readonly string[];
    riskReasons?: readonly string[];
  };
}

/** How far ahead `identity_offline_certs_expiring_soon` looks. */
export const EXPIRING_SOON_DAYS = 7;
/** API keys older than this count as overdue for rotation (spec §6.3). */
export const API_KEY_ROTATION_DAYS = 180;

/** Route label of requests that matched no route: a raw URL would make label values unbounded. */
export const UNMATCHED_ROUTE = 'unmatched';

export const LOGIN_METHODS = ['password', 'passkey', 'sso'] as const;
export type LoginMethod = (typeof LOGIN_METHODS)[number] | 'totp';

export const LOGIN_FAILURE_REASONS = [
  'invalid_credentials',
  'unknown_account',
  'account_locked',
  'account_suspended',
  'device_tenant_mismatch',
  'mfa_failed',
  'passkey_failed',
  'risk_denied',
] as const;
export type LoginFailureReason = (typeof LOGIN_FAILURE_REASONS)[number];

export const MFA_FACTORS = ['totp', 'webauthn'] as const;
/**
 * `result` of identity_sso_callbacks_total: success, the refusal's error code less `sso_`,
 * `account_refused` for the account checks' refusals, `error` for the CA's own failures (5xx).
 */
export const SSO_CALLBACK_RESULTS = [
  'success',
  'state_invalid',
  'denied',
  'code_rejected',
  'provider_unavailable',
  'id_token_invalid',
  'identity_unlinked',
  'account_refused',
  'error',
] as const;
export type SsoCallbackResult = (typeof SSO_CALLBACK_RESULTS)[number];
/** `challenged`: the sign-in was told a second factor is needed. */
export const MFA_RESULTS = ['challenged', 'success', 'failure'] as const;
export const REFRESH_RESULTS = ['success', 'reused', 'invalid'] as const;
export const API_KEY_REFUSALS = [
  'missing',
  'unknown',
  'revoked',
  'expired',
  'forbidden_scope',
  'other_tenant',
] as const;
export type ApiKeyRefusal = (typeof API_KEY_REFUSALS)[number];
export const PUBLISH_FAILURES = ['transient', 'no_stream', 'refused'] as const;
export type PublishFailure = (typeof PUBLISH_FAILURES)[number];
/** The dead-letter queue holds letters of two stages; `stream` names the one they came from. */
export const DLQ_STREAMS = ['outbox', 'inbox'] as const;
export const KMS_OPERATIONS = ['sign_x509', 'sign_jws', 'sign_jwt'] as const;

/** Topics are event types (the subject without its version): a bounded set, the catalogue's. */
const TOPICS = [
  ...new Set(EVENT_CATALOGUE.filter((e) => e.direction === 'produced').map((e) => e.type)),
];

function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/**
 * Every Prometheus metric of the CA (the spec's table is in metric-spec.ts), in a registry of
 * its own: never prom-client's global default, so two CAs in one process never share a counter.
 * Label values are bounded by construction: route templates, methods, status classes, error
 * codes, enumerated reasons, tenant ids (one per school) and hashed key ids; never a user id, a
 * username or a raw URL. Every known label value starts at 0, so `increase()` and dashboards see
 * the first event; tenant-labelled series are started for each tenant at the next scrape.
 */
export class CaMetrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'identity_http_requests_total',
    help: 'HTTP requests completed, by route template, method and status class',
    labelNames: ['route', 'method', 'status_class'] as const,
    registers: [this.registry],
  });
  readonly httpRequestDuration = new Histogram({
    name: 'identity_http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by route template and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly httpErrors = new Counter({
    name: 'identity_http_errors_total',
    help: 'HTTP requests answered with an error (4xx/5xx), by route template, method and error code',
    labelNames: ['route', 'method', 'code'] as const,
    registers: [this.registry],
  });

  readonly loginAttempts = new Counter({
    name: 'identity_login_attempts_total',
    help: 'Online sign-in attempts that reached credential checking, by method, result and tenant',
    labelNames: ['method', 'result', 'tenant_id'] as const,
    registers: [this.registry],
  });
  readonly loginFailures = new Counter({
    name: 'identity_login_failures_total',
    help: 'Refused online sign-ins, by method and reason',
    labelNames: ['method', 'reason'] as const,
    registers: [this.registry],
  });
  readonly loginDuration = new Histogram({
    name: 'identity_login_duration_seconds',
    help: 'Online sign-in duration in seconds (password KDF included), by method',
    labelNames: ['method'] as const,
    buckets: [0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly mfaChallenges = new Counter({
    name: 'identity_mfa_challenges_total',
    help: 'Second factors asked for (challenged) and presented (success, failure), by factor',
    labelNames: ['factor', 'result'] as const,
    registers: [this.registry],
  });
  readonly adaptiveMfaTriggered = new Counter({
    name: 'identity_adaptive_mfa_triggered_total',
    help: 'Online sign-ins whose risk score reached the tenant threshold, by each rule that fired',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  /** The spec gives no buckets; the score is 0–100 (the `riskScore` of the identity schemas). */
  readonly riskScores = new Histogram({
    name: 'identity_risk_score_distribution',
    help: 'Risk scores (0-100) of the online password sign-ins of tenants with adaptive MFA on',
    buckets: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    registers: [this.registry],
  });
  readonly ssoCallbacks = new Counter({
    name: 'identity_sso_callbacks_total',
    help: 'OpenID Connect callbacks handled, by the tenant provider label and result',
    labelNames: ['provider', 'result'] as const,
    registers: [this.registry],
  });
  readonly mfaAdoption: Gauge;
  readonly sessionsActive: Gauge;
  readonly sessionRefresh = new Counter({
    name: 'identity_session_refresh_total',
    help: 'Refresh-token presentations, by result (success = rotated)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly rotationReuseDetected = new Counter({
    name: 'identity_rotation_reuse_detected_total',
    help: 'Rotated refresh tokens presented again (the token family was revoked), by tenant',
    labelNames: ['tenant_id'] as const,
    registers: [this.registry],
  });
  readonly accountLocks = new Counter({
    name: 'identity_account_locks_total',
    help: 'Accounts locked, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly deviceRegistrations = new Counter({
    name: 'identity_device_registrations_total',
    help: 'Devices enrolled, by tenant',
    labelNames: ['tenant_id'] as const,
    registers: [this.registry],
  });
  readonly offlineCertsIssued = new Counter({
    name: 'identity_offline_certs_issued_total',
    help: 'Device binding (offline) certificates issued at enrollment and renewal, by tenant',
    labelNames: ['tenant_id'] as const,
    registers: [this.registry],
  });
  readonly offlineCertsExpiringSoon: Gauge;
  readonly deviceRevocations = new Counter({
    name: 'identity_device_revocations_total',
    help: 'Devices revoked, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly apiKeyUses = new Counter({
    name: 'identity_api_key_uses_total',
    help: 'Requests authenticated by an API key, by tenant, hashed key id and the scope used',
    labelNames: ['tenant_id', 'key_id_hash', 'scope'] as const,
    registers: [this.registry],
  });
  readonly apiKeyValidation = new Histogram({
    name: 'identity_api_key_validation_duration_seconds',
    help: 'API key validation duration in seconds',
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05],
    registers: [this.registry],
  });
  readonly apiKeyUnauthorized = new Counter({
    name: 'identity_api_key_unauthorized_total',
    help: 'Requests refused for their API key, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly apiKeysRotationOverdue: Gauge;

  readonly relayEnabled: Gauge;
  readonly outboxDepth: Gauge;
  readonly outboxLagSeconds: Gauge;
  readonly outboxPublished = new Counter({
    name: 'identity_outbox_publish_rate',
    help: 'Events published to the broker by the outbox relay, by topic (event type); rate() it',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly outboxPublishFailures = new Counter({
    name: 'identity_outbox_publish_failures_total',
    help: 'Failed publish attempts of the outbox relay (each retried), by topic and reason',
    labelNames: ['topic', 'reason'] as const,
    registers: [this.registry],
  });
  readonly inboxConsumed = new Counter({
    name: 'identity_inbox_consume_rate',
    help: 'Messages consumed and applied by the inbox, by topic (subject); rate() it',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly dlqDepth: Gauge;
  readonly dbPoolActive: Gauge;
  readonly dbPoolIdle: Gauge;
  readonly kmsDuration = new Histogram({
    name: 'identity_kms_operations_duration_seconds',
    help: 'Signatures by the issuing CA key and the token keys (file or PKCS#11), by operation',
    labelNames: ['operation'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly kmsFailures = new Counter({
    name: 'identity_kms_operation_failures_total',
    help: 'Failed signatures by the issuing CA key and the token keys, by operation',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly jwksRotations = new Counter({
    name: 'identity_jwks_rotations_total',
    help: 'Scheduled token-key rotation runs, by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly syncRounds = new Counter({
    name: 'identity_sync_rounds_total',
    help: 'Completed device sync rounds',
    registers: [this.registry],
  });
  readonly syncEventsAccepted = new Counter({
    name: 'identity_sync_events_accepted_total',
    help: 'Events pushed by devices and stored',
    registers: [this.registry],
  });
  readonly syncEventsDuplicate = new Counter({
    name: 'identity_sync_events_duplicate_total',
    help: 'Events pushed by devices that were already stored (retries)',
    registers: [this.registry],
  });
  readonly syncEventsRejected = new Counter({
    name: 'identity_sync_events_rejected_total',
    help: 'Events pushed by devices and refused, by refusal code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly syncRequestBytes = new Counter({
    name: 'identity_sync_request_bytes_total',
    help: 'Bytes of sync request bodies received',
    registers: [this.registry],
  });
  readonly offlineSigninsReconciled = new Counter({
    name: 'identity_offline_signins_reconciled_total',
    help: 'Offline sign-ins reported by devices and recorded by the CA',
    registers: [this.registry],
  });

  /** Settable after construction: the relay may start after the app is built. */
  relayStatus: RelayStatusProvider | undefined;
  private readonly knownTenants = new Set<string>();

  constructor(options: CaMetricsOptions) {
    const { db, clock, readings } = options;
    this.relayStatus = options.relayStatus;
    const read = async <T>(query: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await query();
      } catch {
        return undefined; // a closed or broken store: keep the last value, /health/ready reports it
      }
    };
    // Tenant-labelled counters start at 0 for every tenant, found at scrape time.
    const startTenants = async () => {
      for (const tenant of (await read(readings.tenantIds)) ?? []) this.startTenant(tenant);
    };
    const knownTenants = this.knownTenants;
    this.mfaAdoption = new Gauge({
      name: 'identity_mfa_adoption_ratio',
      help: 'Fraction of active users with a second factor (TOTP or passkey) enrolled, by tenant',
      labelNames: ['tenant_id'],
      registers: [this.registry],
      async collect() {
        const users = await read(readings.activeUsers);
        const withMfa = await read(readings.usersWithSecondFactor);
        if (!users || !withMfa) return;
        const byTenant = new Map<string, { users: number; mfa: number }>();
        for (const { userId, tenantId } of users) {
          const tenant = byTenant.get(tenantId) ?? { users: 0, mfa: 0 };
          tenant.users += 1;
          if (withMfa.has(userId)) tenant.mfa += 1;
          byTenant.set(tenantId, tenant);
        }
        this.reset();
        for (const [tenantId, tenant] of byTenant)
          this.set({ tenant_id: tenantId }, tenant.mfa / tenant.users);
      },
    });
    this.sessionsActive = new Gauge({
      name: 'identity_session_count_active',
      help: 'Sessions that are active and not expired, by tenant',
      labelNames: ['tenant_id'],
      registers: [this.registry],
      async collect() {
        await startTenants();
        const found = await read(() =>
          readings.activeSessionsByTenant(new Date(clock.now()).toISOString()),
        );
        if (!found) return;
        this.reset();
        for (const tenant of knownTenants) this.set({ tenant_id: tenant }, found.get(tenant) ?? 0);
      },
    });
    this.offlineCertsExpiringSoon = new Gauge({
      name: 'identity_offline_certs_expiring_soon',
      help: `Active devices whose binding certificate expires within ${EXPIRING_SOON_DAYS} days`,
      registers: [this.registry],
      async collect() {
        const now = clock.now();
        const n = await read(() =>
          readings.devicesExpiringBetween(
            new Date(now).toISOString(),
            new Date(now + EXPIRING_SOON_DAYS * 86_400_000).toISOString(),
          ),
        );
        if (n !== undefined) this.set(n);
      },
    });
    this.apiKeysRotationOverdue = new Gauge({
      name: 'identity_api_keys_rotation_overdue',
      help: `Usable API keys created more than ${API_KEY_ROTATION_DAYS} days ago`,
      registers: [this.registry],
      async collect() {
        const now = clock.now();
        const n = await read(() =>
          readings.usableApiKeysCreatedBy(
            new Date(now).toISOString(),
            new Date(now - API_KEY_ROTATION_DAYS * 86_400_000).toISOString(),
          ),
        );
        if (n !== undefined) this.set(n);
      },
    });
    const relay = async () => this.relayStatus?.();
    const enabledOf = (status: RelayStatus | undefined) => status?.enabled ?? status !== undefined;
    this.relayEnabled = new Gauge({
      name: 'identity_outbox_relay_enabled',
      help: '1 when an outbox relay (a broker, --nats) is configured; 0: events stay in the store',
      registers: [this.registry],
      async collect() {
        this.set(enabledOf(await relay()) ? 1 : 0);
      },
    });
    this.outboxDepth = new Gauge({
      name: 'identity_outbox_depth',
      help: 'Events recorded but not yet published (they wait in the store while no relay runs)',
      registers: [this.registry],
      async collect() {
        this.set((await relay())?.depth ?? 0);
      },
    });
    // Without a relay no publishing is late: the series is absent rather than a growing age.
    this.outboxLagSeconds = new Gauge({
      name: 'identity_outbox_lag_seconds',
      help: 'Age in seconds of the oldest unpublished event; absent while no relay is configured',
      registers: [this.registry],
      async collect() {
        const status = await relay();
        if (status && enabledOf(status)) this.set(status.lagSeconds);
        else this.remove();
      },
    });
    this.dlqDepth = new Gauge({
      name: 'identity_dlq_depth',
      help: 'Messages parked in the dead-letter queue, by the stage they came from',
      labelNames: ['stream'],
      registers: [this.registry],
      async collect() {
        const status = await relay();
        this.set({ stream: 'outbox' }, status?.dlq ?? 0);
        this.set({ stream: 'inbox' }, status?.inboxDlq ?? 0);
      },
    });
    // SQLite has one connection per process: "active" while a transaction holds it.
    this.dbPoolActive = new Gauge({
      name: 'identity_db_pool_active',
      help: 'Database connections in use (SQLite: 1 while a transaction is open, else 0)',
      registers: [this.registry],
      collect() {
        this.set(db.open ? db.connections().active : 0);
      },
    });
    this.dbPoolIdle = new Gauge({
      name: 'identity_db_pool_idle',
      help: 'Idle database connections (SQLite: 1 while open and outside a transaction)',
      registers: [this.registry],
      collect() {
        this.set(db.open ? db.connections().idle : 0);
      },
    });
    this.startKnownSeries(options.knownLabels);
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Known label values at 0 from the start (the first event is then an increase, not a birth). */
  private startKnownSeries(known: CaMetricsOptions['knownLabels']): void {
    for (const method of LOGIN_METHODS) {
      this.loginDuration.zero({ method });
      for (const reason of LOGIN_FAILURE_REASONS) this.loginFailures.inc({ method, reason }, 0);
    }
    this.loginFailures.inc({ method: 'totp', reason: 'mfa_failed' }, 0);
    for (const factor of MFA_FACTORS)
      for (const result of MFA_RESULTS) this.mfaChallenges.inc({ factor, result }, 0);
    for (const result of REFRESH_RESULTS) this.sessionRefresh.inc({ result }, 0);
    for (const provider of SSO_PROVIDERS)
      for (const result of SSO_CALLBACK_RESULTS) this.ssoCallbacks.inc({ provider, result }, 0);
    this.accountLocks.inc({ reason: 'too_many_failures' }, 0);
    for (const reason of known.deviceRevocationReasons) this.deviceRevocations.inc({ reason }, 0);
    for (const reason of known.riskReasons ?? []) this.adaptiveMfaTriggered.inc({ reason }, 0);
    for (const reason of API_KEY_REFUSALS) this.apiKeyUnauthorized.inc({ reason }, 0);
    for (const topic of TOPICS) this.outboxPublished.inc({ topic }, 0);
    for (const topic of known.inboxSubjects) this.inboxConsumed.inc({ topic }, 0);
    for (const operation of KMS_OPERATIONS) {
      this.kmsDuration.zero({ operation });
      this.kmsFailures.inc({ operation }, 0);
    }
    for (const result of ['rotated', 'unchanged', 'failed']) this.jwksRotations.inc({ result }, 0);
  }

  private startTenant(tenant: string): void {
    if (this.knownTenants.has(tenant)) return;
    this.knownTenants.add(tenant);
    for (const method of LOGIN_METHODS)
      for (const result of ['success', 'failure'])
        this.loginAttempts.inc({ method, result, tenant_id: tenant }, 0);
    this.rotationReuseDetected.inc({ tenant_id: tenant }, 0);
    this.deviceRegistrations.inc({ tenant_id: tenant }, 0);
    this.offlineCertsIssued.inc({ tenant_id: tenant }, 0);
  }

  /** Feeds the HTTP metrics; `code` is the stable error code of a 4xx/5xx answer. */
  httpRequest(route: string, method: string, status: number, seconds: number, code?: string) {
    this.httpRequests.inc({ route, method, status_class: statusClass(status) });
    this.httpRequestDuration.observe({ route, method }, seconds);
    if (status >= 400) this.httpErrors.inc({ route, method, code: code ?? 'unknown' });
  }

  /** A route seen at start-up: its success, refusal and failure series start at 0. */
  routeRegistered(route: string, method: string): void {
    for (const status of [200, 400, 500])
      this.httpRequests.inc({ route, method, status_class: statusClass(status) }, 0);
  }

  loginSucceeded(tenantId: string, method: LoginMethod = 'password'): void {
    this.loginAttempts.inc({ method, result: 'success', tenant_id: tenantId });
  }

  /** `tenantId` undefined: the named tenant does not exist (label `unknown`, still bounded). */
  loginFailed(
    reason: LoginFailureReason,
    tenantId: string | undefined,
    method: LoginMethod = 'password',
  ): void {
    this.loginAttempts.inc({ method, result: 'failure', tenant_id: tenantId ?? 'unknown' });
    this.loginFailures.inc({ method, reason });
  }

  mfa(factor: (typeof MFA_FACTORS)[number], result: (typeof MFA_RESULTS)[number]): void {
    this.mfaChallenges.inc({ factor, result });
  }

  /** `provider`: the tenant's label; `unknown` when the state named no sign-in of ours. */
  ssoCallback(provider: string, result: SsoCallbackResult): void {
    this.ssoCallbacks.inc({ provider, result });
  }

  deviceEnrolled(tenantId: string): void {
    this.deviceRegistrations.inc({ tenant_id: tenantId });
    this.offlineCertsIssued.inc({ tenant_id: tenantId });
  }

  apiKeyUsed(tenantId: string, keyId: string, scope: string): void {
    // The hash keeps the label stable per key without putting the id itself in the exposition.
    const keyIdHash = createHash('sha256').update(keyId).digest('hex').slice(0, 12);
    this.apiKeyUses.inc({ tenant_id: tenantId, key_id_hash: keyIdHash, scope });
  }

  /** A token-key signature (`sign_jwt`), timed and counted as the issuing key's are. */
  timeKms<T>(operation: (typeof KMS_OPERATIONS)[number], sign: () => T): T {
    const end = this.kmsDuration.startTimer({ operation });
    try {
      return sign();
    } catch (error) {
      this.kmsFailures.inc({ operation });
      throw error;
    } finally {
      end();
    }
  }

  /** The issuing key's signer, timed and counted as the spec's KMS operations. */
  timedSigner(signer: Signer): Signer {
    return {
      publicKey: signer.publicKey,
      sign: async (data, encoding = 'der') => {
        const operation = encoding === 'der' ? 'sign_x509' : 'sign_jws';
        const end = this.kmsDuration.startTimer({ operation });
        try {
          return await signer.sign(data, encoding);
        } catch (error) {
          this.kmsFailures.inc({ operation });
          throw error;
        } finally {
          end();
        }
      },
    };
  }

  syncRound(push: {
    accepted: number;
    duplicates: number;
    rejected: readonly { code: SyncRejectionCode }[];
  }): void {
    this.syncRounds.inc();
    this.syncEventsAccepted.inc(push.accepted);
    this.syncEventsDuplicate.inc(push.duplicates);
    for (const { code } of push.rejected) this.syncEventsRejected.inc({ code });
  }

  /** One pushed event stored: offline sign-ins are counted as reconciled. */
  syncEventStored(event: { eventType: string; payload: Record<string, unknown> }): void {
    if (event.eventType === 'identity.user.logged_in' && event.payload['offline'] === true) {
      this.offlineSigninsReconciled.inc();
    }
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Names as a query may use them: histograms add `_bucket`, `_sum` and `_count`. */
  seriesNames(): string[] {
    return this.registry.getMetricsAsArray().flatMap((metric) => {
      const type = String(metric.type);
      if (type === 'histogram')
        return [metric.name, ...['_bucket', '_sum', '_count'].map((s) => metric.name + s)];
      if (type === 'summary') return [metric.name, `${metric.name}_sum`, `${metric.name}_count`];
      return [metric.name];
    });
  }
}
