import type { Clock } from '@lantern/shared';
import type { Database } from 'better-sqlite3';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the outbox relay reports about itself; undefined while no relay runs (embedded mode). */
export interface RelayStatus {
  /** Events recorded but not yet published. */
  depth: number;
  /** Age of the oldest unpublished event, in seconds (0 when the outbox is empty). */
  lagSeconds: number;
  /** Messages parked in the dead-letter queue. */
  dlq: number;
}

export type RelayStatusProvider = () => RelayStatus | undefined;

export interface CaMetricsOptions {
  db: Database;
  clock: Clock;
  relayStatus?: RelayStatusProvider;
  /** Process and Node.js runtime metrics (`process_*`, `nodejs_*`) in the same registry. */
  defaultMetrics?: boolean;
}

/** How far ahead `identity_offline_certs_expiring_soon` looks. */
export const EXPIRING_SOON_DAYS = 7;

/** Route label of requests that matched no route: a raw URL would make label values unbounded. */
export const UNMATCHED_ROUTE = 'unmatched';

export type LoginFailureReason =
  | 'invalid_credentials'
  | 'unknown_account'
  | 'account_locked'
  | 'account_suspended'
  | 'device_tenant_mismatch'
  | 'mfa_failed'
  | 'passkey_failed';

export type SyncRejectionCode =
  'sequence_conflict' | 'event_not_allowed' | 'schema_violation' | 'tenant_mismatch';

/**
 * Every Prometheus metric of the CA (DESIGN §7), in a registry of its own: never prom-client's
 * global default, so two CAs in one process (tests, benchmarks) never share a counter. Label
 * values are bounded by construction: route templates, methods, status codes, enumerated
 * reasons; never an id, a username or a raw URL.
 */
export class CaMetrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'identity_http_requests_total',
    help: 'HTTP requests completed, by method, route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpRequestDuration = new Histogram({
    name: 'identity_http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly loginAttempts = new Counter({
    name: 'identity_login_attempts_total',
    help: 'Online sign-in attempts that reached credential checking, by method and result',
    labelNames: ['method', 'result'] as const,
    registers: [this.registry],
  });
  readonly loginFailures = new Counter({
    name: 'identity_login_failures_total',
    help: 'Refused online sign-ins, by method and reason',
    labelNames: ['method', 'reason'] as const,
    registers: [this.registry],
  });
  /** A sign-in answered "second factor required" (not a failure: the client asks for a code). */
  readonly mfaChallenges = new Counter({
    name: 'identity_mfa_challenges_total',
    help: 'Second-factor challenges issued',
    registers: [this.registry],
  });
  readonly sessionsActive: Gauge;
  readonly sessionRefresh = new Counter({
    name: 'identity_session_refresh_total',
    help: 'Successful refresh-token rotations',
    registers: [this.registry],
  });
  readonly rotationReuseDetected = new Counter({
    name: 'identity_rotation_reuse_detected_total',
    help: 'Rotated refresh tokens presented again (the token family was revoked)',
    registers: [this.registry],
  });
  readonly accountLocks = new Counter({
    name: 'identity_account_locks_total',
    help: 'Accounts locked after too many failed sign-ins',
    registers: [this.registry],
  });

  readonly deviceRegistrations = new Counter({
    name: 'identity_device_registrations_total',
    help: 'Devices enrolled',
    registers: [this.registry],
  });
  readonly offlineCertsIssued = new Counter({
    name: 'identity_offline_certs_issued_total',
    help: 'Device binding (offline) certificates issued',
    registers: [this.registry],
  });
  readonly offlineCertsExpiringSoon: Gauge;
  readonly deviceRevocations = new Counter({
    name: 'identity_device_revocations_total',
    help: 'Devices revoked, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly outboxDepth: Gauge;
  readonly outboxLagSeconds: Gauge;
  readonly dlqDepth: Gauge;

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

  constructor(options: CaMetricsOptions) {
    const { db, clock } = options;
    this.relayStatus = options.relayStatus;
    const count = (sql: string, ...params: unknown[]): number | undefined => {
      try {
        return (db.prepare(sql).get(...params) as { n: number }).n;
      } catch {
        return undefined; // a closed or broken store: keep the last value, /health/ready reports it
      }
    };
    this.sessionsActive = new Gauge({
      name: 'identity_session_count_active',
      help: 'Sessions that are active and not expired',
      registers: [this.registry],
      collect() {
        const n = count(
          "SELECT COUNT(*) AS n FROM sessions WHERE status = 'active' AND expires_at > ?",
          new Date(clock.now()).toISOString(),
        );
        if (n !== undefined) this.set(n);
      },
    });
    this.offlineCertsExpiringSoon = new Gauge({
      name: 'identity_offline_certs_expiring_soon',
      help: `Active devices whose binding certificate expires within ${EXPIRING_SOON_DAYS} days`,
      registers: [this.registry],
      collect() {
        const now = clock.now();
        const n = count(
          "SELECT COUNT(*) AS n FROM devices WHERE status = 'active' AND cert_expires_at > ? AND cert_expires_at <= ?",
          new Date(now).toISOString(),
          new Date(now + EXPIRING_SOON_DAYS * 86_400_000).toISOString(),
        );
        if (n !== undefined) this.set(n);
      },
    });
    const relay = (pick: (status: RelayStatus) => number) => () =>
      pick(this.relayStatus?.() ?? { depth: 0, lagSeconds: 0, dlq: 0 });
    const depth = relay((status) => status.depth);
    const lag = relay((status) => status.lagSeconds);
    const dlq = relay((status) => status.dlq);
    this.outboxDepth = new Gauge({
      name: 'identity_outbox_depth',
      help: 'Events recorded but not yet published by the relay (0 without a relay)',
      registers: [this.registry],
      collect() {
        this.set(depth());
      },
    });
    this.outboxLagSeconds = new Gauge({
      name: 'identity_outbox_lag_seconds',
      help: 'Age in seconds of the oldest unpublished event (0 without a relay)',
      registers: [this.registry],
      collect() {
        this.set(lag());
      },
    });
    this.dlqDepth = new Gauge({
      name: 'identity_dlq_depth',
      help: 'Messages in the dead-letter queue (0 without a relay)',
      registers: [this.registry],
      collect() {
        this.set(dlq());
      },
    });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  loginSucceeded(method = 'password'): void {
    this.loginAttempts.inc({ method, result: 'success' });
  }

  loginFailed(reason: LoginFailureReason, method = 'password'): void {
    this.loginAttempts.inc({ method, result: 'failure' });
    this.loginFailures.inc({ method, reason });
  }

  deviceEnrolled(): void {
    this.deviceRegistrations.inc();
    this.offlineCertsIssued.inc();
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
