import type { Clock, Logger } from '@lantern/shared';
import { ServiceUnavailableError } from '@lantern/shared';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { EventStore } from '../store/event-store.js';
import { connectNats } from './connect-nats.js';
import { DeadLetterQueue } from './dead-letter-queue.js';
import { ensureIdentityStreams } from './identity-streams.js';
import { PublishPipeline } from './publish-pipeline.js';

export interface ReplayOptions {
  store: EventStore;
  clock: Clock;
  logger: Logger;
  servers: string | string[];
  /** First position re-published (inclusive). */
  from: number;
  /** Last position re-published (inclusive); the head when omitted. */
  to?: number;
  window?: number;
  connectTimeoutMs?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ReplayResult {
  from: number;
  to: number;
  /** Acked by the stream as new messages. */
  published: number;
  /** Acked as duplicates: the stream had the message id within its duplicate window. */
  duplicates: number;
  parked: number;
}

/**
 * Re-publishes a range of the log, independently of the relay's cursor (a consumer lost data,
 * a stream was recreated). The stream drops message ids it saw within its duplicate window;
 * older events are stored again, so consumers must tolerate duplicates by event id.
 */
export async function replayEvents(options: ReplayOptions): Promise<ReplayResult> {
  const { store, logger } = options;
  const to = Math.min(options.to ?? (await store.headPosition()), await store.headPosition());
  const result: ReplayResult = { from: options.from, to, published: 0, duplicates: 0, parked: 0 };
  if (to < options.from) return result;
  let connected = true;
  const nc = await connectNats({
    servers: options.servers,
    name: 'lantern-ca-replay',
    logger,
    signal: AbortSignal.timeout(options.connectTimeoutMs ?? 10_000),
    onStatus: (up) => {
      connected = up;
    },
  });
  if (!nc) throw new ServiceUnavailableError('NATS did not answer; nothing was replayed');
  try {
    await ensureIdentityStreams(await jetstreamManager(nc));
    const pipeline = new PublishPipeline({
      js: jetstream(nc),
      dlq: new DeadLetterQueue(store.db, options.clock),
      logger,
      window: options.window ?? 256,
      maxAttempts: 5,
      retry: { initialMs: 200, maxMs: 5_000 },
      publishTimeoutMs: 5_000,
      isConnected: () => connected,
      onNoStream: () => undefined,
    });
    const total = to - options.from + 1;
    let after = options.from - 1;
    let done = 0;
    while (after < to || pipeline.size > 0) {
      if (after < to && pipeline.room > 0) {
        const events = (
          await store.read({ after, limit: Math.min(pipeline.room, to - after) })
        ).filter((event) => event.position <= to);
        for (const event of events) pipeline.add(event);
        after = events.at(-1)?.position ?? to;
      }
      for (const { outcome } of pipeline.takeSettled()) {
        done += 1;
        if (outcome === 'published') result.published += 1;
        else if (outcome === 'duplicate') result.duplicates += 1;
        else result.parked += 1;
      }
      options.onProgress?.(done, total);
      if (after < to || pipeline.size > 0) await pipeline.changed(250);
    }
    return result;
  } finally {
    await nc.close();
  }
}
