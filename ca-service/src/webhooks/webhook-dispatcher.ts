import type { CaContext } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { eventMessage } from '../outbox/event-message.js';
import { Cursor } from '../store/cursor.js';
import { leaseOf } from '../store/lease.js';
import type { Lease } from '../store/lease.js';
import type { RecordedEvent } from '../store/event-store.js';
import type { DeliveryRow } from './webhook-deliveries.js';
import { postToEndpoint } from './endpoint-address.js';
import { SIGNATURE_HEADER, signWebhook } from './webhook-signature.js';
import type { SubscriptionRow } from './webhook-subscriptions.js';
import { secretAad } from './webhook-subscriptions.js';

export interface WebhookDispatcherOptions {
  /** Events read from the log per scan. */
  batchSize?: number;
  /** Deliveries in flight at once, all endpoints together. */
  concurrency?: number;
  /**
   * Deliveries in flight at once for one tenant (default a quarter of `concurrency`): a tenant
   * whose endpoints hang until the timeout cannot take every slot from the others.
   */
  perTenant?: number;
  /** A receiver that has not answered by then counts as a failed attempt. */
  timeoutMs?: number;
  /** Attempts before a delivery is given up as `failed` (an admin can still replay it). */
  maxAttempts?: number;
  /** Exponential backoff between attempts: initial, doubling, capped. */
  retry?: { initialMs?: number; maxMs?: number };
  /** How often the background loop looks for new events and due retries. */
  pollMs?: number;
  /** Deliver to loopback addresses (`--webhooks-allow-loopback-http`: tests and development). */
  allowLoopback?: boolean;
}

const CURSOR = 'webhooks';

/**
 * Webhook deliveries from the event log (docs/architecture.md §6), the way the outbox relay
 * publishes: a stored cursor moves over committed events, so delivering never sits inside the
 * transaction that produced an event, and a slow or dead endpoint delays nothing but its own
 * deliveries. Each (subscription, event) becomes one row of the delivery log in the same
 * transaction that moves the cursor; due rows are POSTed, signed, and retried with backoff.
 */
export class WebhookDispatcher {
  private readonly settings: Required<Omit<WebhookDispatcherOptions, 'retry'>> & {
    retry: { initialMs: number; maxMs: number };
  };
  /** Attempts under way by delivery id, with the tenant they count against. */
  private readonly inFlight = new Map<string, { tenantId: string; done: Promise<void> }>();
  private timer: NodeJS.Timeout | undefined;
  /** CA instances sharing a PostgreSQL database: one dispatches, or each would post each delivery. */
  private lease: Lease | undefined;
  private running: Promise<void> | undefined;
  /** Aborted by `stop`: a shutdown does not wait out slow endpoints (they are retried later). */
  private stopping = new AbortController();

  constructor(
    private readonly ctx: Pick<CaContext, 'clock' | 'ids' | 'logger' | 'secretBox' | 'store'>,
    options: WebhookDispatcherOptions = {},
  ) {
    this.settings = {
      batchSize: options.batchSize ?? 500,
      concurrency: options.concurrency ?? 8,
      perTenant: options.perTenant ?? Math.max(1, Math.floor((options.concurrency ?? 8) / 4)),
      timeoutMs: options.timeoutMs ?? 10_000,
      maxAttempts: options.maxAttempts ?? 8,
      pollMs: options.pollMs ?? 500,
      allowLoopback: options.allowLoopback ?? false,
      retry: {
        initialMs: options.retry?.initialMs ?? 5_000,
        maxMs: options.retry?.maxMs ?? 3_600_000,
      },
    };
  }

  start(): void {
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    this.timer ??= setInterval(() => {
      if (this.running) return;
      this.running = this.tick()
        .catch((error: unknown) =>
          this.ctx.logger.error(
            { event: 'webhooks.failed', err: error },
            'webhook dispatch failed',
          ),
        )
        .finally(() => {
          this.running = undefined;
        });
    }, this.settings.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.stopping.abort();
    await this.running;
    await Promise.all([...this.inFlight.values()].map(({ done }) => done));
    await this.lease?.release();
  }

  /** Queues deliveries for new events and starts the due ones; resolves when those are settled. */
  async runOnce(): Promise<void> {
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    await this.tick();
    await Promise.all([...this.inFlight.values()].map(({ done }) => done));
  }

  private async tick(): Promise<void> {
    this.lease ??= leaseOf(this.ctx.store.db, 'webhooks');
    if (!(await this.lease.tryAcquire())) return;
    while ((await this.enqueue()) === this.settings.batchSize) {
      // More events are waiting: keep the event loop free between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await this.startDue();
  }

  /** Moves the cursor over one batch of events; returns how many it read. */
  private enqueue(): Promise<number> {
    const { store } = this.ctx;
    return store.transaction(async () => {
      const after = await Cursor.read(store.db, CURSOR);
      const now = isoNow(this.ctx.clock);
      const subscriptions = (await store.db
        .prepare("SELECT * FROM webhook_subscriptions WHERE status = 'active'")
        .all()) as SubscriptionRow[];
      if (subscriptions.length === 0) {
        // Nobody listens: skip to the head rather than read a large store for nothing. A
        // subscription made later starts after the head anyway.
        const head = await store.headPosition();
        if (head > after) await Cursor.write(store.db, CURSOR, head, now);
        return 0;
      }
      const events = await store.read({ after, limit: this.settings.batchSize });
      const last = events[events.length - 1];
      if (!last) return 0;
      const insert = store.db.prepare(
        `INSERT INTO webhook_deliveries (delivery_id, subscription_id, tenant_id, event_id, event_type,
         position, status, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)
         ON CONFLICT (subscription_id, event_id) DO NOTHING`,
      );
      for (const event of events) {
        for (const subscription of subscriptions) {
          if (!matches(subscription, event)) continue;
          await insert.run(
            this.ctx.ids.next('dlv'),
            subscription.subscription_id,
            subscription.tenant_id,
            event.eventId,
            event.eventType,
            event.position,
            now,
            now,
          );
        }
      }
      await Cursor.write(store.db, CURSOR, last.position, now);
      return events.length;
    });
  }

  private async startDue(): Promise<void> {
    const { concurrency, perTenant } = this.settings;
    const free = concurrency - this.inFlight.size;
    if (free <= 0) return;
    // The first `perTenant` due rows of each tenant only (those in flight among them), so one
    // tenant's backlog cannot fill the batch either.
    const due = (await this.ctx.store.db
      .prepare(
        `SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY tenant_id
           ORDER BY next_attempt_at, position) AS tenant_rank
         FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?) AS due
         WHERE tenant_rank <= ? ORDER BY next_attempt_at, position LIMIT ?`,
      )
      .all(isoNow(this.ctx.clock), perTenant, free + this.inFlight.size)) as DeliveryRow[];
    const busy = new Map<string, number>();
    for (const { tenantId } of this.inFlight.values())
      busy.set(tenantId, (busy.get(tenantId) ?? 0) + 1);
    for (const delivery of due) {
      if (this.inFlight.size >= concurrency) break;
      if (this.inFlight.has(delivery.delivery_id)) continue;
      const tenantBusy = busy.get(delivery.tenant_id) ?? 0;
      if (tenantBusy >= perTenant) continue;
      busy.set(delivery.tenant_id, tenantBusy + 1);
      const done = this.attempt(delivery).finally(() => this.inFlight.delete(delivery.delivery_id));
      this.inFlight.set(delivery.delivery_id, { tenantId: delivery.tenant_id, done });
    }
  }

  private async attempt(due: DeliveryRow): Promise<void> {
    const { store } = this.ctx;
    // Read again: the row `startDue` read may be older than an attempt that ended meanwhile
    // (delivered, or put off with one attempt more), which must not be made twice.
    const delivery = (await store.db
      .prepare('SELECT * FROM webhook_deliveries WHERE delivery_id = ?')
      .get(due.delivery_id)) as DeliveryRow | undefined;
    if (
      delivery?.status !== 'pending' ||
      delivery.attempts !== due.attempts ||
      delivery.next_attempt_at > isoNow(this.ctx.clock)
    ) {
      return;
    }
    const subscription = (await store.db
      .prepare('SELECT * FROM webhook_subscriptions WHERE subscription_id = ?')
      .get(delivery.subscription_id)) as SubscriptionRow | undefined;
    const event = (await store.read({ after: delivery.position - 1, limit: 1 }))[0];
    if (!subscription || subscription.status !== 'active' || event?.eventId !== delivery.event_id) {
      await this.settle(delivery, { status: 'canceled', error: 'subscription or event gone' });
      return;
    }
    const secret = this.ctx.secretBox
      .open(subscription.sealed_secret, secretAad(subscription.subscription_id))
      .toString('utf8');
    const body = Buffer.from(eventMessage(event).data).toString('utf8');
    const timestamp = Math.floor(this.ctx.clock.now() / 1000);
    let outcome: { code?: number; error?: string };
    try {
      const status = await postToEndpoint(
        subscription.url,
        {
          body,
          signal: AbortSignal.any([
            AbortSignal.timeout(this.settings.timeoutMs),
            this.stopping.signal,
          ]),
          headers: {
            'content-type': 'application/json',
            'user-agent': 'lantern-webhooks/1',
            [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
            'lantern-event-id': event.eventId,
            'lantern-event-type': event.eventType,
            'lantern-delivery-id': delivery.delivery_id,
          },
        },
        this.settings.allowLoopback,
      );
      outcome =
        status >= 200 && status < 300
          ? { code: status }
          : { code: status, error: `HTTP ${status}` };
    } catch (error) {
      // The error's code (ECONNREFUSED, address_not_allowed, ABORT_ERR) only: never a message.
      const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
      outcome = {
        error: typeof code === 'string' ? code : error instanceof Error ? error.name : 'error',
      };
    }
    if (outcome.error === undefined) {
      await this.settle(delivery, { status: 'delivered', code: outcome.code });
      return;
    }
    const attempts = delivery.attempts + 1;
    const delay = Math.min(
      this.settings.retry.maxMs,
      this.settings.retry.initialMs * 2 ** (attempts - 1),
    );
    await this.settle(delivery, {
      status: attempts >= this.settings.maxAttempts ? 'failed' : 'pending',
      code: outcome.code,
      error: outcome.error,
      nextAttemptAt: new Date(this.ctx.clock.now() + delay).toISOString(),
    });
  }

  private async settle(
    delivery: DeliveryRow,
    result: {
      status: DeliveryRow['status'];
      code?: number | undefined;
      error?: string;
      nextAttemptAt?: string;
    },
  ): Promise<void> {
    if (!this.ctx.store.db.open) return;
    const now = isoNow(this.ctx.clock);
    await this.ctx.store.db
      .prepare(
        `UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, last_status_code = ?,
         last_error = ?, next_attempt_at = COALESCE(?, next_attempt_at),
         delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END
         WHERE delivery_id = ? AND status = 'pending'`,
      )
      .run(
        result.status,
        result.code ?? null,
        result.error ?? null,
        result.nextAttemptAt ?? null,
        result.status,
        now,
        delivery.delivery_id,
      );
  }
}

/** Same tenant, a subscribed type, and recorded after the subscription: nothing else goes out. */
function matches(subscription: SubscriptionRow, event: RecordedEvent): boolean {
  return (
    event.tenantId === subscription.tenant_id &&
    event.position > subscription.after_position &&
    (JSON.parse(subscription.event_types) as string[]).includes(event.eventType)
  );
}
