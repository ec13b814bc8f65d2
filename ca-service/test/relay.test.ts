import { EventValidator, runCli } from '@lantern/shared';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventCommands } from '../src/cli/event-commands.js';
import { startEventBackbone } from '../src/event-backbone.js';
import { DLQ_STREAM, IDENTITY_STREAM } from '../src/outbox/identity-streams.js';
import { OutboxRelay } from '../src/outbox/relay.js';
import type { OutboxRelayOptions } from '../src/outbox/relay.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import type { PrivateNats } from '../../test/support/nats.js';
import { startNats } from '../../test/support/nats.js';
import { appendCheapEvents, storeEventIds } from './support/cheap-events.js';
import { streamMessages, until } from './support/jetstream.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

let nats: PrivateNats;
let ca: TestCa;
let tenantId = '';
let relay: OutboxRelay | undefined;

const append = (count: number, correlationId = 'relay-test') =>
  appendCheapEvents(ca.ctx, tenantId, count, { correlationId });
const storeIds = () => storeEventIds(ca.ctx);

function startRelay(options: Partial<OutboxRelayOptions> = {}): OutboxRelay {
  relay = new OutboxRelay({
    store: ca.ctx.store,
    clock: ca.clock,
    logger: ca.ctx.logger,
    servers: nats.url,
    retry: { initialMs: 50, maxMs: 400 },
    publishTimeoutMs: 1_000,
    pollMs: 25,
    cursorFlushMs: 25,
    ...options,
  });
  relay.start();
  return relay;
}

beforeAll(async () => {
  nats = await startNats();
});
afterAll(async () => nats.stop());

describe('outbox relay', () => {
  beforeAll(async () => {
    ca = await startTestCa();
    tenantId = await createTenant(ca, 'Relay School');
  });
  afterEach(async () => {
    await relay?.stop();
    relay = undefined;
  });
  afterAll(async () => ca.close());

  it('waits without NATS: nothing published, nothing lost, depth and lag reported', async () => {
    const backbone = startEventBackbone({ ctx: ca.ctx, checkpointIntervalMs: 0 });
    await append(10);
    ca.clock.advance(5_000);
    const { relay: status, inbox } = await backbone.status();
    expect(status).toMatchObject({ running: false, cursor: 0, depth: await ca.eventCount() });
    expect(status.lagSeconds).toBeGreaterThanOrEqual(5);
    expect(inbox).toBeUndefined();
    await backbone.stop();
  });

  it('publishes every event exactly once, with the event id as Nats-Msg-Id', async () => {
    await append(1500);
    await append(1, TRACE_ID);
    const running = startRelay();
    await until(async () => (await running.status()).depth === 0);
    const messages = await streamMessages(nats.url, IDENTITY_STREAM);
    const ids = await storeIds();
    expect(messages.map((m) => m.headers?.get('Nats-Msg-Id')).sort()).toEqual([...ids].sort());
    expect(new Set(messages.map((m) => m.headers?.get('Nats-Msg-Id'))).size).toBe(ids.length);
    expect(await running.status()).toMatchObject({ published: ids.length, failures: 0, dlq: 0 });

    const validator = new EventValidator();
    const last = messages.find((m) => m.headers?.get('Nats-Msg-Id') === ids.at(-1));
    expect(last?.subject).toBe('identity.user.reactivated.v1');
    expect(last?.headers?.get('traceparent')).toMatch(
      new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`),
    );
    expect(last?.headers?.get('Lantern-Position')).toBe(String(ids.length));
    // The body is the envelope exactly: a consumer validates it with the shared schema.
    expect(validator.check(last?.json())).toEqual({ ok: true });
    const other = messages.find((m) => m.headers?.get('Nats-Msg-Id') === ids[0]);
    expect(other?.headers?.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('survives a NATS crash: depth grows while it is down, then drains without duplicates', async () => {
    const running = startRelay();
    await until(async () => (await running.status()).depth === 0);
    // Killed mid-flight: some of these are stored without their ack reaching the relay, which
    // sends them again after the restart; the stream must drop those by message id.
    await append(1000);
    await until(async () => (await running.status()).published > 0);
    await nats.kill();
    for (let batch = 0; batch < 5; batch++) {
      await append(100);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    ca.clock.advance(30_000);
    await until(async () => !(await running.status()).connected);
    const down = await running.status();
    expect(down.depth).toBeGreaterThanOrEqual(500);
    expect(down.connected).toBe(false);
    expect(down.lagSeconds).toBeGreaterThanOrEqual(30);

    await nats.restart();
    await until(async () => (await running.status()).depth === 0);
    const messages = await streamMessages(nats.url, IDENTITY_STREAM);
    const ids = await storeIds();
    expect(messages).toHaveLength(ids.length);
    expect(new Set(messages.map((m) => m.headers?.get('Nats-Msg-Id'))).size).toBe(ids.length);
    expect(await running.status()).toMatchObject({ lagSeconds: 0, dlq: 0, connected: true });
  });

  it('resumes from its persisted cursor after a restart of the service', async () => {
    const before = (await ca.ctx.store.db
      .prepare("SELECT position FROM cursors WHERE name = 'relay:identity'")
      .get()) as { position: number };
    expect(before.position).toBe(await ca.eventCount());
    await append(20);
    const running = startRelay();
    await until(async () => (await running.status()).depth === 0);
    expect(await running.status()).toMatchObject({ published: 20, duplicates: 0 });
  });

  it('replays a range; the stream drops what it saw within its duplicate window', async () => {
    const run = async (args: string[]) => {
      const out: string[] = [];
      const code = await runCli('lantern-ca', eventCommands, [...args, '--json'], {
        stdout: (text) => out.push(text),
        stderr: () => undefined,
        readStdin: async () => '',
        env: {},
      });
      return { code, json: JSON.parse(out.join('')) as Record<string, number> };
    };
    const head = await ca.eventCount();
    const again = await run([
      'events',
      'replay',
      '--to-nats',
      nats.url,
      '--from',
      '1',
      '--data-dir',
      ca.dir,
    ]);
    expect(again).toEqual({
      code: 0,
      json: expect.objectContaining({
        from: 1,
        to: head,
        published: 0,
        duplicates: head,
        parked: 0,
      }),
    });

    const nc = await connect({ servers: nats.url });
    await (await jetstreamManager(nc)).streams.delete(IDENTITY_STREAM);
    await nc.close();
    const rebuilt = await run([
      'events',
      'replay',
      '--to-nats',
      nats.url,
      '--from',
      '5',
      '--to',
      '10',
      '--data-dir',
      ca.dir,
    ]);
    expect(rebuilt.json).toMatchObject({ from: 5, to: 10, published: 6, duplicates: 0 });
    const messages = await streamMessages(nats.url, IDENTITY_STREAM);
    expect(messages.map((m) => m.headers?.get('Lantern-Position'))).toEqual([
      '5',
      '6',
      '7',
      '8',
      '9',
      '10',
    ]);
  });

  it('parks an event the stream refuses in the DLQ with the reason, and moves on', async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(IDENTITY_STREAM);
    await jsm.streams.add({ name: IDENTITY_STREAM, subjects: ['identity.>'], max_msg_size: 2048 });
    await nc.close();
    const deviceId = ca.ctx.ids.next('dev');
    const first = (await ca.eventCount()) + 1;
    await append(1);
    await ca.ctx.store.append([
      {
        eventType: 'identity.device.bound_for_offline',
        aggregateId: deviceId,
        tenantId,
        actor: { type: 'system', id: 'test' },
        correlationId: 'poison',
        payload: {
          deviceId,
          certificateSerial: '5c2f0a9e3b7d41c6a8e1f0d2b3c4a5e6',
          certificateFingerprint: 'a'.repeat(64),
          issuerFingerprint: 'b'.repeat(64),
          certificateKid: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
          certIssuedAt: '2026-11-23T10:00:00.000Z',
          certExpiresAt: '2026-12-23T10:00:00.000Z',
          maxOfflineSeconds: 86_400,
          certificatePem: `-----BEGIN CERTIFICATE-----\n${'A'.repeat(4000)}\n-----END CERTIFICATE-----\n`,
        },
      },
    ]);
    await append(1);
    const running = startRelay({ maxAttempts: 3 });
    await until(async () => (await running.status()).depth === 0);
    expect((await running.status()).dlq).toBe(1);
    const published = await streamMessages(nats.url, IDENTITY_STREAM);
    expect(published.map((m) => m.headers?.get('Lantern-Position'))).toEqual([
      String(first),
      String(first + 2),
    ]);
    const parked = await streamMessages(nats.url, DLQ_STREAM);
    expect(parked).toHaveLength(1);
    expect(parked[0]?.subject).toBe('dlq.identity.relay.identity.device.bound_for_offline.v1');
    expect(parked[0]?.headers?.get('Lantern-Dlq-Reason')).toContain('maximum');
    expect(parked[0]?.headers?.get('Lantern-Position')).toBe(String(first + 1));
    expect(
      await ca.ctx.store.db.prepare('SELECT source, position, attempts FROM dead_letters').all(),
    ).toEqual([{ source: 'relay', position: first + 1, attempts: 3 }]);
  });
});
