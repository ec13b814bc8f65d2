import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventMessage } from '../src/outbox/event-message.js';
import { IDENTITY_STREAM } from '../src/outbox/identity-streams.js';
import { OutboxRelay } from '../src/outbox/relay.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import type { PrivateNats } from '../../test/support/nats.js';
import { startNats } from '../../test/support/nats.js';

const EVENTS = Number(process.env['LANTERN_BENCH_EVENTS'] ?? 20_000);
const WINDOW = Number(process.env['LANTERN_BENCH_WINDOW'] ?? 256);

/**
 * A measurement, not a check: `LANTERN_BENCH=1 npx vitest run ca-service/test/relay-throughput`.
 * The relay against a bare loop that keeps WINDOW publish acks in flight for the same events,
 * on fresh streams of the same private server.
 */
describe.runIf(process.env['LANTERN_BENCH'])('relay throughput', () => {
  let nats: PrivateNats;
  let ca: TestCa;

  beforeAll(async () => {
    nats = await startNats();
    ca = await startTestCa();
    const tenantId = await createTenant(ca, 'Bench School');
    for (let done = 0; done < EVENTS; done += 1000) {
      await ca.ctx.store.append(
        Array.from({ length: 1000 }, () => {
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
  }, 120_000);
  afterAll(async () => {
    await ca.close();
    await nats.stop();
  });

  it('relay vs raw publish-ack loop, same window', async () => {
    const total = await ca.eventCount();
    const relay = new OutboxRelay({
      store: ca.ctx.store,
      clock: { now: () => Date.now() },
      logger: ca.ctx.logger,
      servers: nats.url,
      window: WINDOW,
    });
    let started = performance.now();
    relay.start();
    while ((await relay.status()).depth > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const relaySeconds = (performance.now() - started) / 1000;
    const { failures } = await relay.status();
    await relay.stop();

    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(IDENTITY_STREAM);
    await jsm.streams.add({ name: IDENTITY_STREAM, subjects: ['identity.>'] });
    const js = jetstream(nc);
    const messages = (await ca.ctx.store.read({ limit: 10_000 })).map(eventMessage);
    started = performance.now();
    let next = 0;
    const lane = async () => {
      while (next < messages.length) {
        const message = messages[next++];
        if (!message) return;
        await js.publish(message.subject, message.data, {
          msgID: message.msgId,
          headers: message.headers,
        });
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, lane));
    const rawSeconds = (performance.now() - started) / 1000;
    await nc.close();

    const figures = {
      events: total,
      window: WINDOW,
      relayEventsPerSecond: Math.round(total / relaySeconds),
      rawEventsPerSecond: Math.round(total / rawSeconds),
      relayFailures: failures,
    };
    console.log(JSON.stringify(figures));
    expect(figures.relayEventsPerSecond).toBeGreaterThan(0);
  }, 120_000);
});
