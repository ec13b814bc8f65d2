import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDENTITY_STREAM } from '../src/outbox/identity-streams.js';
import { OutboxRelay } from '../src/outbox/relay.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import type { NatsCluster } from '../../test/support/nats.js';
import { startNatsCluster } from '../../test/support/nats.js';
import { appendCheapEvents, storeEventIds } from './support/cheap-events.js';
import { streamMessages, until } from './support/jetstream.js';

let cluster: NatsCluster;
let ca: TestCa;
let tenantId = '';

const append = (count: number) =>
  appendCheapEvents(ca.ctx, tenantId, count, { correlationId: 'cluster-test' });
const storeIds = () => storeEventIds(ca.ctx);

/** The node that leads the stream's replica group, by its server name. */
async function streamLeader(): Promise<string | undefined> {
  const nc = await connect({ servers: cluster.urls });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(IDENTITY_STREAM);
    return info.cluster?.leader;
  } finally {
    await nc.close();
  }
}

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Cluster School');
});
afterAll(async () => {
  await ca?.close();
  await cluster?.stop();
});

describe('outbox relay on a three-node JetStream cluster', () => {
  it('keeps publishing through the loss of the stream leader, with no event lost or doubled', async () => {
    const relay = new OutboxRelay({
      store: ca.ctx.store,
      clock: ca.clock,
      logger: ca.ctx.logger,
      servers: cluster.urls,
      replicas: 3,
      retry: { initialMs: 50, maxMs: 500 },
      publishTimeoutMs: 2_000,
      pollMs: 25,
      cursorFlushMs: 25,
    });
    relay.start();
    try {
      await append(300);
      await until(async () => (await relay.status()).depth === 0, 30_000);

      const nc = await connect({ servers: cluster.urls });
      const info = await (await jetstreamManager(nc)).streams.info(IDENTITY_STREAM);
      await nc.close();
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.replicas).toHaveLength(2);

      // Kill the leader while events are still being appended and published.
      const leader = await streamLeader();
      const victim = cluster.nodes.find((_, index) => leader === `lantern-test-${index}`);
      expect(victim).toBeDefined();
      await append(500);
      await until(async () => (await relay.status()).published > 300);
      await victim!.kill();
      for (let batch = 0; batch < 5; batch++) {
        await append(100);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // Two of three replicas keep a quorum: the relay drains without the dead node.
      await until(async () => (await relay.status()).depth === 0, 45_000);
      // The cluster may still be electing its meta leader, and then a JetStream API request of
      // the test's own times out: asked again until the stream names a new leader.
      let elected: string | undefined;
      await until(async () => {
        elected = await streamLeader().catch(() => undefined);
        return elected !== undefined && elected !== leader;
      }, 30_000);
      expect(elected).toBeDefined();
      expect(elected).not.toBe(leader);

      await victim!.restart();
      await append(100);
      await until(async () => (await relay.status()).depth === 0, 30_000);

      const ids = await storeIds();
      const messages = await streamMessages(cluster.urls[0]!, IDENTITY_STREAM);
      const published = messages.map((message) => message.headers?.get('Nats-Msg-Id'));
      expect(published).toHaveLength(ids.length);
      expect(new Set(published)).toEqual(new Set(ids));
      expect(await relay.status()).toMatchObject({ depth: 0, dlq: 0 });
    } finally {
      await relay.stop();
    }
  }, 120_000);
});
