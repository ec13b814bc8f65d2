import type { FastifyPluginAsync } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Clock } from '@lantern/shared';
import { PASSKEY_REFUSALS } from '../passkeys/passkey-refusals.js';
import { SIGNIN_REFUSALS } from '../signin/signin-refusals.js';
import { agentPaths } from '../data-dir/agent-paths.js';
import type { AgentStore } from '../store/agent-store.js';
import { openAgentStore } from '../store/agent-store.js';

export const SIGNIN_METHODS = ['password', 'passkey', 'sso'] as const;
export type SigninMethod = (typeof SIGNIN_METHODS)[number];

/** The part of a sign-in verdict the metrics read; no user id reaches a label. */
export interface SigninOutcome {
  ok: boolean;
  mode?: 'online' | 'offline';
  code?: string;
}

/** Every code a sign-in may be refused with: the label's whole value set. */
const REFUSAL_CODES = new Set([...Object.keys(SIGNIN_REFUSALS), ...Object.keys(PASSKEY_REFUSALS)]);

/**
 * The agent daemon's own metrics (`GET /metrics` on the loopback port). Depth and sync age are
 * read from the store at scrape time (`readFrom`), so they hold across restarts and whoever wrote the rows
 * (the daemon, `lantern-agent sync`); the counters count this daemon's verdicts since it
 * started. Labels are closed sets (methods, results, refusal codes): no user, no device id.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly offlineSignins: Counter<'method' | 'result'>;
  private readonly refusals: Counter<'method' | 'code'>;

  constructor(private readonly clock: Clock) {
    const registers = [this.registry];
    this.offlineSignins = new Counter({
      name: 'lantern_agent_offline_signins_total',
      help: 'Sign-ins decided on this device without the CA, by method and result',
      labelNames: ['method', 'result'],
      registers,
    });
    this.refusals = new Counter({
      name: 'lantern_agent_signin_refusals_total',
      help: 'Refused sign-ins (online and offline), by method and stable refusal code',
      labelNames: ['method', 'code'],
      registers,
    });
    // Known series start at 0, so `increase()` sees the first event.
    for (const method of SIGNIN_METHODS) {
      for (const result of ['success', 'refused']) this.offlineSignins.inc({ method, result }, 0);
      for (const code of Object.keys(SIGNIN_REFUSALS)) this.refusals.inc({ method, code }, 0);
    }
    for (const code of Object.keys(PASSKEY_REFUSALS)) {
      this.refusals.inc({ method: 'passkey', code }, 0);
    }
  }

  /** The gauges read from the daemon's store at each scrape; once per registry. */
  readFrom(store: AgentStore): void {
    const registers = [this.registry];
    const clock = this.clock;
    new Gauge({
      name: 'lantern_agent_outbox_depth',
      help: 'Events recorded on this device that the CA has not acknowledged yet',
      registers,
      collect() {
        const row = store.db
          .prepare<[], { n: number }>('SELECT count(*) AS n FROM outbox WHERE acked = 0')
          .get();
        this.set(row?.n ?? 0);
      },
    });
    new Gauge({
      name: 'lantern_agent_last_sync_age_seconds',
      help: 'Seconds since the last sync that completed; +Inf before the first one',
      registers,
      collect() {
        const row = store.db
          .prepare<[], { at: number | null }>(
            'SELECT last_sync_at AS at FROM sync_state WHERE id = 1',
          )
          .get();
        // Never synced is "infinitely long ago": an age alert fires rather than staying quiet.
        this.set(row?.at == null ? Infinity : Math.max(0, (clock.now() - row.at) / 1000));
      },
    });
  }

  signin(method: SigninMethod, outcome: SigninOutcome): void {
    if (outcome.mode === 'offline') {
      this.offlineSignins.inc({ method, result: outcome.ok ? 'success' : 'refused' });
    }
    if (!outcome.ok) {
      const known = outcome.code !== undefined && REFUSAL_CODES.has(outcome.code);
      this.refusals.inc({ method, code: known ? (outcome.code as string) : 'other' });
    }
  }

  contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

export interface AgentObservabilityOptions {
  dataDir: string;
  clock: Clock;
  metrics: AgentMetrics;
}

/**
 * `GET /health` (anyone on the loopback: whether the daemon answers and its store reads) and
 * `GET /metrics` (the local API secret only, see docs/observability.md "Agent").
 */
export function agentObservabilityRoutes(options: AgentObservabilityOptions): FastifyPluginAsync {
  return async (app) => {
    const store = openAgentStore(agentPaths(options.dataDir).database, { clock: options.clock });
    app.addHook('onClose', async () => store.close());
    options.metrics.readFrom(store);
    app.get('/health', { config: { anonymous: true } }, async (_request, reply) => {
      try {
        store.db.prepare('SELECT 1 FROM sync_state WHERE id = 1').get();
      } catch {
        return reply.status(503).send({ status: 'failing', store: 'unreadable' });
      }
      return { status: 'ok' };
    });
    app.get('/metrics', { config: { secretOnly: true } }, async (_request, reply) =>
      reply
        .header('content-type', options.metrics.contentType())
        .header('cache-control', 'no-store')
        .send(await options.metrics.text()),
    );
  };
}
