/**
 * The outbox relay (`OutboxRelay`, ca-service/src/outbox/relay.ts) draining a backlog of events
 * from the CA's event store into NATS JetStream, against a bare publish-ack loop that keeps the
 * same number of acks in flight for the same messages with the same client.
 *
 * A private `nats-server -js` (test/support/nats.ts) and a CA store holding BACKLOG events. Each
 * run starts on freshly created streams (same config as the relay's: file storage, 2-minute
 * duplicate window), so neither side ever publishes into de-duplication. Ours: a new relay with
 * a cursor of its own, from `start()` (connect, stream check included) until its cursor reaches
 * the head. Baseline: the messages the relay would send (`eventMessage`, built before the clock
 * starts), WINDOW lanes each awaiting one `js.publish` ack at a time. Events/s, median of runs.
 */
import type { RecordedEvent } from '@lantern/ca-service';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { connectNats } from '../../ca-service/src/outbox/connect-nats.js';
import { eventMessage } from '../../ca-service/src/outbox/event-message.js';
import {
  ensureIdentityStreams,
  identityStreamConfigs,
} from '../../ca-service/src/outbox/identity-streams.js';
import type { PublishPipelineOptions } from '../../ca-service/src/outbox/publish-pipeline.js';
import { OutboxRelay } from '../../ca-service/src/outbox/relay.js';
import { startNats } from '../../test/support/nats.js';
import { createTenant, openBenchCa } from './ca-setup.js';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { ROOT, interleave, ratioAtLeast } from './harness.js';

type JetStreamManager = Parameters<typeof ensureIdentityStreams>[0];
type NatsConnection = NonNullable<Awaited<ReturnType<typeof connectNats>>>;
interface JetStreamModule {
  jetstream(nc: NatsConnection): PublishPipelineOptions['js'];
  jetstreamManager(nc: NatsConnection): Promise<JetStreamManager>;
}

/** The NATS client is a dependency of ca-service alone, so it is resolved from there. */
async function jetStreamModule(): Promise<JetStreamModule> {
  const path = createRequire(join(ROOT, 'ca-service/package.json')).resolve('@nats-io/jetstream');
  return (await import(pathToFileURL(path).href)) as JetStreamModule;
}

const NAME = 'Outbox relay to NATS JetStream';
const WINDOW = 256;
const TARGET = 0.7;

async function freshStreams(jsm: JetStreamManager): Promise<void> {
  for (const { name } of identityStreamConfigs()) {
    await jsm.streams.delete(name).catch(() => false);
  }
  await ensureIdentityStreams(jsm);
}

export const relay: Benchmark = {
  name: 'relay',
  title: `Outbox relay to NATS JetStream vs a raw publish-ack loop (window ${WINDOW})`,
  async run(context: BenchContext): Promise<BenchResult[]> {
    const backlog = context.quick ? 1_000 : 10_000;
    const nats = await startNats();
    const ca = await openBenchCa();
    const nc = await connectNats({
      servers: nats.url,
      name: 'lantern-bench-raw',
      logger: ca.ctx.logger,
      signal: AbortSignal.timeout(10_000),
    });
    if (!nc) throw new Error('could not connect to the private nats-server');
    try {
      const tenantId = await createTenant(ca, 'Relay Bench');
      const { store, logger } = ca.ctx;
      for (let done = 0; done < backlog; done += 500) {
        await store.append(
          Array.from({ length: Math.min(500, backlog - done) }, () => {
            const userId = ca.ctx.ids.next('usr');
            return {
              eventType: 'identity.user.reactivated',
              aggregateId: userId,
              tenantId,
              actor: { type: 'system' as const, id: 'bench' },
              correlationId: 'bench',
              payload: { userId },
            };
          }),
        );
      }
      const head = await store.headPosition();
      const events: RecordedEvent[] = [];
      for await (const event of store.readAll()) events.push(event);
      const { jetstream, jetstreamManager } = await jetStreamModule();
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      let relayRuns = 0;
      let failures = 0;

      const ours = async (): Promise<number> => {
        await freshStreams(jsm);
        const outbox = new OutboxRelay({
          store,
          clock: { now: () => Date.now() },
          logger,
          servers: nats.url,
          name: `relay:bench-${(relayRuns += 1)}`,
          window: WINDOW,
        });
        const started = performance.now();
        outbox.start();
        while ((await outbox.status()).cursor < head) await sleep(2);
        const seconds = (performance.now() - started) / 1000;
        failures += (await outbox.status()).failures;
        await outbox.stop();
        return events.length / seconds;
      };
      const baseline = async (): Promise<number> => {
        await freshStreams(jsm);
        const messages = events.map(eventMessage);
        let next = 0;
        const lane = async () => {
          for (let message = messages[next++]; message; message = messages[next++]) {
            await js.publish(message.subject, message.data, {
              msgID: message.msgId,
              headers: message.headers,
            });
          }
        };
        const started = performance.now();
        await Promise.all(Array.from({ length: WINDOW }, lane));
        return events.length / ((performance.now() - started) / 1000);
      };

      const runs = context.quick ? 1 : 3;
      context.log(`relay: ${events.length} events, window ${WINDOW}, ${runs} runs each`);
      const measured = await interleave(
        [
          { name: 'ours', measure: ours },
          { name: 'baseline', measure: baseline },
        ],
        { warmupMs: 0, runMs: 0, runs },
      );
      return [
        ratioAtLeast(
          NAME,
          'events/s',
          measured['ours']?.median ?? Number.NaN,
          measured['baseline']?.median ?? Number.NaN,
          TARGET,
          {
            ours: 'OutboxRelay: store.read → eventMessage → js.publish (msgID) → cursor, from start()',
            baseline: `${WINDOW} lanes of await js.publish(subject, data, { msgID, headers }), messages prebuilt`,
            events: events.length,
            window: WINDOW,
            relayPublishFailures: failures,
            runs: measured,
          },
        ),
      ];
    } finally {
      await nc.close();
      await ca.close();
      await nats.stop();
    }
  },
};
