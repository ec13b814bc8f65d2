import type { EventEnvelope } from '@lantern/shared';
import type { JetStreamClient } from '@nats-io/jetstream';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connect } from '@nats-io/transport-node';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Inbox } from '../src/inbox/inbox.js';
import { InboxProcessor } from '../src/inbox/inbox-processor.js';
import { DLQ_STREAM } from '../src/outbox/identity-streams.js';
import { OutboxRelay } from '../src/outbox/relay.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';
import type { PrivateNats } from '../../test/support/nats.js';
import { startNats } from '../../test/support/nats.js';
import { streamMessages, until } from './support/jetstream.js';

const INVITED = 'tenant.org.user_invited.v1';
const GDPR = 'gdpr.subject_request.received.v1';

let nats: PrivateNats;
let ca: TestCa;
let nc: NatsConnection;
let js: JetStreamClient;
let inbox: Inbox;
let relay: OutboxRelay;
let tenantId = '';

function envelope(
  eventType: string,
  payload: Record<string, unknown>,
  overrides: Partial<EventEnvelope> = {},
): EventEnvelope {
  return {
    eventId: ca.ctx.ids.next('evt'),
    eventType,
    eventVersion: 1,
    occurredAt: new Date(ca.clock.now()).toISOString(),
    tenantId,
    actor: { type: 'system', id: 'tenant-service' },
    correlationId: 'corr-inbox-test',
    partitionKey: String(payload['username'] ?? payload['subjectUserId'] ?? 'x'),
    payload,
    ...overrides,
  };
}

/** Publishes as the producing service would; `copy` makes JetStream store a second delivery. */
async function send(subject: string, body: unknown, copy = ''): Promise<void> {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  const msgID = `${(body as { eventId?: string }).eventId ?? createHash('sha256').update(data).digest('hex')}${copy}`;
  await js.publish(subject, data, { msgID });
}

function newInbox(): Inbox {
  const created = new Inbox({
    ctx: ca.ctx,
    servers: nats.url,
    retryDelayMs: 50,
    streamPollMs: 50,
    // A message published just as an inbox stops can go to that inbox's last pull request before
    // the broker notices the connection closed; it comes back after the ack wait, so keep that
    // wait inside the tests' 20 s polling.
    ackWaitMs: 5_000,
  });
  created.start();
  return created;
}

const userNamed = async (username: string) =>
  (await ca.ctx.store.db
    .prepare('SELECT user_id, status, role, email FROM users WHERE tenant_id = ? AND username = ?')
    .get(tenantId, username)) as
    { user_id: string; status: string; role: string; email: string | null } | undefined;

beforeAll(async () => {
  nats = await startNats();
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Inbox School');
  // Started before the producers' streams exist: it must wait for them.
  inbox = newInbox();
  relay = new OutboxRelay({
    store: ca.ctx.store,
    clock: ca.clock,
    logger: ca.ctx.logger,
    servers: nats.url,
    pollMs: 25,
  });
  relay.start();
  nc = await connect({ servers: nats.url });
  js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'TENANT', subjects: ['tenant.>'] });
  await jsm.streams.add({ name: 'GDPR', subjects: ['gdpr.>'] });
  await until(() => inbox.status().consuming.length === 2);
});
afterAll(async () => {
  await inbox.stop();
  await relay.stop();
  await nc.close();
  await ca.close();
  await nats.stop();
});

describe('inbox', () => {
  it('turns an invitation into a shadow user awaiting verification', async () => {
    const invite = envelope('tenant.org.user_invited', {
      inviteId: 'inv_1',
      username: 'new.teacher',
      email: 'new.teacher@school.example',
      role: 'teacher',
    });
    await send(INVITED, invite);
    await until(async () => (await userNamed('new.teacher')) !== undefined);
    expect(await userNamed('new.teacher')).toMatchObject({
      status: 'pending_verification',
      role: 'teacher',
      email: 'new.teacher@school.example',
    });
    const [registered] = await ca.ctx.store.read({
      tenantId,
      eventType: 'identity.user.registered',
    });
    expect(registered).toMatchObject({
      causationId: invite.eventId,
      correlationId: 'corr-inbox-test',
      actor: { type: 'system', id: 'inbox' },
    });
  });

  it('applies a redelivered event once: the dedupe row commits with the effect', async () => {
    const invite = envelope('tenant.org.user_invited', {
      inviteId: 'inv_2',
      username: 'twice',
      role: 'learner',
    });
    await send(INVITED, invite);
    await until(async () => (await userNamed('twice')) !== undefined);
    const events = await ca.eventCount();
    const duplicates = inbox.status().duplicates;
    await send(INVITED, invite, ':redelivered');
    await until(() => inbox.status().duplicates === duplicates + 1);
    expect(await ca.eventCount()).toBe(events);
    expect(await new InboxProcessor(ca.ctx).process(invite)).toBe('duplicate');
  });

  it('leaves an existing user alone when invited again under another event id', async () => {
    const events = await ca.eventCount();
    const processed = inbox.status().processed;
    await send(
      INVITED,
      envelope('tenant.org.user_invited', { inviteId: 'inv_3', username: 'twice', role: 'admin' }),
    );
    await until(() => inbox.status().processed === processed + 1);
    expect(await ca.eventCount()).toBe(events);
    expect((await userNamed('twice'))?.role).toBe('learner');
  });

  it('parks poison messages in the DLQ with the reason and never stores them', async () => {
    const events = await ca.eventCount();
    const parked = inbox.status().deadLettered;
    const poison: [string, unknown, string][] = [
      [INVITED, '{"not json', 'not JSON'],
      [
        INVITED,
        envelope('tenant.org.user_invited', { inviteId: 'inv_4', username: 'x', role: 'wizard' }),
        'role',
      ],
      [
        INVITED,
        envelope(
          'tenant.org.user_invited',
          { inviteId: 'inv_5', username: 'ghost', role: 'learner' },
          { tenantId: ca.ctx.ids.next('ten') },
        ),
        'does not exist',
      ],
      [
        GDPR,
        envelope('tenant.org.user_invited', { inviteId: 'inv_6', username: 'y', role: 'learner' }),
        `arrived on ${GDPR}`,
      ],
    ];
    for (const [subject, body] of poison) await send(subject, body);
    await until(() => inbox.status().deadLettered === parked + poison.length);
    expect(await ca.eventCount()).toBe(events);
    const letters = await streamMessages(nats.url, DLQ_STREAM);
    const inboxLetters = letters.filter((m) => m.subject.startsWith('dlq.identity.inbox.'));
    expect(inboxLetters).toHaveLength(poison.length);
    // Each subject has its own consumer, so letters of different subjects may interleave.
    for (const [subject, , reason] of poison) {
      const matching = inboxLetters.filter(
        (letter) =>
          letter.subject === `dlq.identity.inbox.${subject}` &&
          (letter.headers?.get('Lantern-Dlq-Reason') ?? '').includes(reason),
      );
      expect(matching, `${subject}: ${reason}`).toHaveLength(1);
    }
    const rows = (await ca.ctx.store.db
      .prepare(
        "SELECT subject, reason FROM dead_letters WHERE source = 'inbox' ORDER BY dead_letter_id",
      )
      .all()) as { subject: string; reason: string }[];
    expect(rows.map((row) => row.reason).sort()).toEqual(
      inboxLetters.map((m) => m.headers?.get('Lantern-Dlq-Reason')).sort(),
    );
  });

  it('erases the subject of a GDPR erasure request and publishes the acknowledgement', async () => {
    const userId = await createUser(ca, tenantId, 'leaver', 'password of leaver');
    const request = envelope('gdpr.subject_request.received', {
      requestId: 'gdpr_1',
      subjectUserId: userId,
      kind: 'erasure',
    });
    await send(GDPR, request);
    await until(
      async () =>
        (await ca.ctx.store.read({ tenantId, eventType: 'gdpr.subject_request.acknowledged' }))
          .length === 1,
    );
    const status = await ca.ctx.store.db
      .prepare('SELECT status FROM users WHERE user_id = ?')
      .get(userId);
    expect(status).toEqual({ status: 'erased' });
    const [ack] = await ca.ctx.store.read({
      tenantId,
      eventType: 'gdpr.subject_request.acknowledged',
    });
    expect(ack).toMatchObject({
      causationId: request.eventId,
      payload: {
        requestId: 'gdpr_1',
        subjectUserId: userId,
        kind: 'erasure',
        outcome: 'completed',
      },
    });
    await until(async () => (await relay.status()).depth === 0);
    const answers = (await streamMessages(nats.url, 'GDPR')).filter(
      (m) => m.subject === 'gdpr.subject_request.acknowledged.v1',
    );
    expect(answers.map((m) => m.headers?.get('Nats-Msg-Id'))).toEqual([ack?.eventId]);
  });

  it('exports the events of a GDPR export request and answers for an unknown subject', async () => {
    const userId = await createUser(ca, tenantId, 'curious', 'password of curious');
    await send(
      GDPR,
      envelope('gdpr.subject_request.received', {
        requestId: 'gdpr_2',
        subjectUserId: userId,
        kind: 'export',
      }),
    );
    const stranger = ca.ctx.ids.next('usr');
    await send(
      GDPR,
      envelope('gdpr.subject_request.received', {
        requestId: 'gdpr_3',
        subjectUserId: stranger,
        kind: 'export',
      }),
    );
    const acks = () =>
      ca.ctx.store.read({ tenantId, eventType: 'gdpr.subject_request.acknowledged' });
    await until(async () => (await acks()).length === 3);
    const exported = (await ca.ctx.store.db
      .prepare(
        "SELECT event_count, sha256, ndjson FROM subject_request_exports WHERE request_id = 'gdpr_2'",
      )
      .get()) as { event_count: number; sha256: string; ndjson: string };
    const lines = exported.ndjson
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { eventType: string });
    expect(lines.map((line) => line.eventType)).toEqual([
      'identity.user.registered',
      'identity.user.password_set',
    ]);
    expect(createHash('sha256').update(exported.ndjson).digest('hex')).toBe(exported.sha256);
    expect((await acks())[1]?.payload).toEqual({
      requestId: 'gdpr_2',
      subjectUserId: userId,
      kind: 'export',
      outcome: 'completed',
      eventCount: 2,
      exportSha256: exported.sha256,
    });
    expect((await acks())[2]?.payload).toMatchObject({
      subjectUserId: stranger,
      outcome: 'subject_not_found',
    });
  });

  it('resumes its durable consumers after a restart, without reprocessing', async () => {
    await inbox.stop();
    const processed = await ca.ctx.store.db
      .prepare('SELECT COUNT(*) AS n FROM inbox_processed')
      .get();
    await send(
      INVITED,
      envelope('tenant.org.user_invited', { inviteId: 'inv_7', username: 'late', role: 'learner' }),
    );
    inbox = newInbox();
    await until(async () => (await userNamed('late')) !== undefined);
    expect(inbox.status()).toMatchObject({ processed: 1, duplicates: 0, deadLettered: 0 });
    expect(
      await ca.ctx.store.db.prepare('SELECT COUNT(*) AS n FROM inbox_processed').get(),
    ).toEqual({
      n: (processed as { n: number }).n + 1,
    });
  });

  it('keeps consuming across a NATS restart', async () => {
    await nats.restart();
    await nc.close();
    nc = await connect({ servers: nats.url });
    js = jetstream(nc);
    await until(() => inbox.status().connected);
    await send(
      INVITED,
      envelope('tenant.org.user_invited', {
        inviteId: 'inv_8',
        username: 'after',
        role: 'learner',
      }),
    );
    await until(async () => (await userNamed('after')) !== undefined);
  });
});
