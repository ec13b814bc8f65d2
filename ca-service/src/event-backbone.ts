import { runEvery } from '@lantern/shared';
import { AuditCheckpoints } from './audit/audit-checkpoints.js';
import { UserEventIndex } from './audit/user-event-index.js';
import type { CaContext } from './context/ca-context.js';
import { Inbox } from './inbox/inbox.js';
import type { RelayStatus as MetricsRelayStatus } from './observability/metrics.js';
import type { InboxStatus } from './inbox/inbox.js';
import type { OutboxRelayOptions, RelayStatus } from './outbox/relay.js';
import { OutboxRelay } from './outbox/relay.js';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher.js';

export interface EventBackboneOptions {
  ctx: CaContext;
  /** `--nats URL`; without it the relay only reports its depth (the outbox waits) and no inbox runs. */
  nats?: string | string[];
  /** Signed audit checkpoints this often when events were appended; 0 turns them off. */
  checkpointIntervalMs?: number;
  relay?: Pick<OutboxRelayOptions, 'window' | 'maxAttempts' | 'replicas'>;
  /** `--webhooks-allow-loopback-http`: deliveries may go to loopback addresses. */
  webhooksAllowLoopback?: boolean;
}

export interface EventBackbone {
  relay: OutboxRelay;
  inbox: Inbox | undefined;
  webhooks: WebhookDispatcher;
  checkpoints: AuditCheckpoints;
  status(): Promise<{ relay: RelayStatus; inbox: InboxStatus | undefined }>;
  stop(): Promise<void>;
}

/**
 * What the metrics report about the backbone: a relay counts as enabled only with a broker
 * configured, so the outbox alerts stay quiet where nothing is meant to drain the outbox.
 */
export function backboneRelayStatus(backbone: EventBackbone, natsConfigured: boolean) {
  return async (): Promise<MetricsRelayStatus> => {
    const { relay, inbox } = await backbone.status();
    return { ...relay, enabled: natsConfigured, inboxDlq: inbox?.deadLettered ?? 0 };
  };
}

/**
 * What `serve` starts beside the HTTP server: outbox relay, inbox, scheduled checkpoints, the
 * timeline index. Stop it before closing the database.
 */
export function startEventBackbone(options: EventBackboneOptions): EventBackbone {
  const { ctx } = options;
  const relay = new OutboxRelay({
    store: ctx.store,
    clock: ctx.clock,
    logger: ctx.logger,
    counters: {
      published: (topic) => ctx.metrics.outboxPublished.inc({ topic }),
      failed: (topic, reason) => ctx.metrics.outboxPublishFailures.inc({ topic, reason }),
    },
    ...options.relay,
    ...(options.nats === undefined ? {} : { servers: options.nats }),
  });
  relay.start();
  const inbox = options.nats === undefined ? undefined : new Inbox({ ctx, servers: options.nats });
  inbox?.start();
  const webhooks = new WebhookDispatcher(ctx, {
    allowLoopback: options.webhooksAllowLoopback ?? false,
  });
  webhooks.start();
  const checkpoints = new AuditCheckpoints(ctx.store, ctx.clock, {
    issuingPem: ctx.ca.issuingPem,
    signer: ctx.ca.authority.signer,
  });
  // Keeps the timeline index near the head, a few batches a second, so the first timeline read
  // on a large store that predates the index does not index it all inside one request.
  const index = new UserEventIndex(ctx.store, ctx.clock);
  const indexing = runEvery(1_000, async () => {
    try {
      await index.catchUp(5);
    } catch (error) {
      ctx.logger.warn({ event: 'timeline.index_failed', err: error }, 'timeline index lagging');
    }
  });
  const interval = options.checkpointIntervalMs ?? 3_600_000;
  const checkpointing = interval > 0 ? checkpoints.schedule(interval, ctx.logger) : null;
  return {
    relay,
    inbox,
    webhooks,
    checkpoints,
    status: async () => ({ relay: await relay.status(), inbox: inbox?.status() }),
    async stop() {
      await Promise.all([
        indexing.stop(),
        checkpointing?.stop(),
        relay.stop(),
        inbox?.stop(),
        webhooks.stop(),
      ]);
    },
  };
}
