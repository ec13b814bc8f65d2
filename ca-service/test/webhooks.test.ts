import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebhookDispatcher, verifyWebhookSignature } from '@lantern/ca-service';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';
import { checkEndpoint } from '../src/webhooks/webhook-subscriptions.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP endpoint on an ephemeral port; it can go down, come back, or hold its answer. */
async function startReceiver() {
  const received: Received[] = [];
  let hold: Promise<void> | undefined;
  let server: Server | undefined;
  let port = 0;
  const up = async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        void (hold ?? Promise.resolve()).then(() => response.writeHead(204).end());
      });
    });
    await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  await up();
  return {
    received,
    url: () => `http://127.0.0.1:${port}/hooks/lantern`,
    up,
    down: () =>
      new Promise<void>((resolve) => {
        server?.closeAllConnections();
        server?.close(() => resolve());
      }),
    /** Answers nothing until the returned function is called. */
    holdAnswers(): () => void {
      let release: () => void = () => undefined;
      hold = new Promise((resolve) => {
        release = resolve;
      });
      return release;
    },
  };
}

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

let ca: TestCa;
let receiver: Receiver;
let dispatcher: WebhookDispatcher;
let tenantA: string;
let tenantB: string;
const INITIAL_MS = 60_000;

beforeEach(async () => {
  ca = await startTestCa({ app: { webhooks: { allowLoopbackHttp: true } } });
  receiver = await startReceiver();
  dispatcher = new WebhookDispatcher(ca.ctx, {
    retry: { initialMs: INITIAL_MS, maxMs: 3_600_000 },
    timeoutMs: 5_000,
    allowLoopback: true,
  });
  tenantA = await createTenant(ca, 'Hillside');
  tenantB = await createTenant(ca, 'Riverside');
});
afterEach(async () => {
  await dispatcher.stop();
  await receiver.down();
  await ca.close();
});

async function subscribe(eventTypes: string[], tenant = tenantA) {
  const answer = await ca.admin('POST', '/v1/admin/webhooks', {
    tenant,
    url: receiver.url(),
    eventTypes,
  });
  expect(answer.statusCode, answer.body).toBe(201);
  return answer.json() as { subscriptionId: string; secret: string };
}

async function deliveries(subscriptionId: string, key?: string) {
  const answer = await ca.admin(
    'GET',
    `/v1/admin/webhooks/${subscriptionId}/deliveries`,
    undefined,
    key,
  );
  return answer.json() as {
    deliveries: {
      deliveryId: string;
      status: string;
      attempts: number;
      eventId: string;
      nextAttemptAt: string | null;
      lastError: string | null;
    }[];
  };
}

describe('webhook endpoints', () => {
  it('takes https only, loopback http only behind the flag, and produced event types only', async () => {
    expect(() => checkEndpoint('http://127.0.0.1:9/x', { allowLoopbackHttp: false })).toThrow(
      expect.objectContaining({ code: 'webhook_url_not_allowed' }),
    );
    expect(() =>
      checkEndpoint('https://hooks.example.org/x', { allowLoopbackHttp: false }),
    ).not.toThrow();
    for (const url of ['http://10.0.0.7/x', 'https://user:pw@hooks.example.org/', 'not a url']) {
      const answer = await ca.admin('POST', '/v1/admin/webhooks', {
        tenant: tenantA,
        url,
        eventTypes: ['identity.user.registered'],
      });
      expect(answer.json(), url).toMatchObject({ code: 'webhook_url_not_allowed' });
    }
    const consumed = await ca.admin('POST', '/v1/admin/webhooks', {
      tenant: tenantA,
      url: receiver.url(),
      eventTypes: ['tenant.org.user_invited'],
    });
    expect(consumed.json()).toMatchObject({ code: 'webhook_event_type_unknown' });
  });

  it('refuses https endpoints on loopback, private, link-local and mapped addresses (SSRF)', async () => {
    for (const url of [
      'https://127.0.0.1/x',
      'https://2130706433/x',
      'https://localhost/x',
      'https://169.254.169.254/latest/meta-data',
      'https://10.1.2.3/x',
      'https://172.16.0.1/x',
      'https://192.168.1.1/x',
      'https://100.64.0.1/x',
      'https://0.0.0.0/x',
      'https://[::1]/x',
      'https://[::]/x',
      'https://[::ffff:127.0.0.1]/x',
      'https://[::ffff:a9fe:a9fe]/x',
      'https://[fe80::1]/x',
      'https://[fd00::1]/x',
    ]) {
      const answer = await ca.admin('POST', '/v1/admin/webhooks', {
        tenant: tenantA,
        url,
        eventTypes: ['identity.user.registered'],
      });
      expect(answer.json(), url).toMatchObject({ code: 'webhook_url_not_allowed' });
    }
    expect(() =>
      checkEndpoint('https://[2606:4700::1111]/x', { allowLoopbackHttp: false }),
    ).not.toThrow();
  });

  it('does not deliver to a host name that resolves to a loopback address', async () => {
    const { subscriptionId } = await subscribe(['identity.user.registered']);
    // A name that passed the check when subscribed and resolves to loopback when delivered
    // (DNS rebinding): the address is checked on the connection itself.
    await ca.ctx.store.db
      .prepare('UPDATE webhook_subscriptions SET url = ? WHERE subscription_id = ?')
      .run(receiver.url().replace('127.0.0.1', 'localhost'), subscriptionId);
    const strict = new WebhookDispatcher(ca.ctx, { retry: { initialMs: INITIAL_MS } });
    await createUser(ca, tenantA, 'amina', 'password of amina');
    await strict.runOnce();
    await strict.stop();
    expect(receiver.received).toHaveLength(0);
    expect((await deliveries(subscriptionId)).deliveries).toMatchObject([
      { status: 'pending', attempts: 1, lastError: 'address_not_allowed' },
    ]);
  });
});

describe('webhook deliveries', () => {
  it("signs each delivery, sends only the tenant's own events, and a tampered body fails the check", async () => {
    const { subscriptionId, secret } = await subscribe(['identity.user.registered']);
    await createUser(ca, tenantB, 'bea', 'password of bea');
    const amina = await createUser(ca, tenantA, 'amina', 'password of amina');
    await dispatcher.runOnce();

    expect(receiver.received).toHaveLength(1);
    const [delivery] = receiver.received;
    const body = JSON.parse(delivery!.body) as { tenantId: string; payload: { userId: string } };
    expect(body).toMatchObject({ tenantId: tenantA, payload: { userId: amina } });
    const header = String(delivery!.headers['lantern-signature']);
    const now = Math.floor(ca.clock.now() / 1000);
    expect(verifyWebhookSignature(header, delivery!.body, secret, now)).toMatchObject({ ok: true });
    const tampered = delivery!.body.replace(tenantA, tenantB);
    expect(verifyWebhookSignature(header, tampered, secret, now)).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(verifyWebhookSignature(header, delivery!.body, `${secret}x`, now)).toMatchObject({
      ok: false,
    });
    expect(verifyWebhookSignature(header, delivery!.body, secret, now + 600)).toEqual({
      ok: false,
      reason: 'stale',
    });

    expect((await deliveries(subscriptionId)).deliveries).toMatchObject([
      { status: 'delivered', attempts: 1 },
    ]);
    const keyB = await ca.admin('POST', '/v1/admin/api-keys', {
      scopes: ['admin'],
      tenant: tenantB,
    });
    const otherTenant = await ca.admin(
      'GET',
      `/v1/admin/webhooks/${subscriptionId}/deliveries`,
      undefined,
      (keyB.json() as { apiKey: string }).apiKey,
    );
    expect(otherTenant.statusCode).toBe(404);
  });

  it('retries a receiver that is down with growing backoff, delivers once when it is up, and replays on demand', async () => {
    const { subscriptionId } = await subscribe(['identity.user.registered']);
    await receiver.down();
    await createUser(ca, tenantA, 'amina', 'password of amina');
    await dispatcher.runOnce();
    let [log] = (await deliveries(subscriptionId)).deliveries;
    expect(log).toMatchObject({ status: 'pending', attempts: 1, lastError: 'ECONNREFUSED' });
    expect(Date.parse(log!.nextAttemptAt!) - ca.clock.now()).toBe(INITIAL_MS);

    await dispatcher.runOnce(); // not due yet: no attempt
    ca.clock.advance(INITIAL_MS);
    await dispatcher.runOnce();
    [log] = (await deliveries(subscriptionId)).deliveries;
    expect(log).toMatchObject({ status: 'pending', attempts: 2 });
    expect(Date.parse(log!.nextAttemptAt!) - ca.clock.now()).toBe(2 * INITIAL_MS);

    await receiver.up();
    ca.clock.advance(2 * INITIAL_MS);
    await dispatcher.runOnce();
    await dispatcher.runOnce();
    expect(receiver.received).toHaveLength(1);
    [log] = (await deliveries(subscriptionId)).deliveries;
    expect(log).toMatchObject({ status: 'delivered', attempts: 3 });

    const replay = await ca.admin(
      'POST',
      `/v1/admin/webhooks/deliveries/${log!.deliveryId}/redeliver`,
      {},
    );
    expect(replay.statusCode).toBe(200);
    await dispatcher.runOnce();
    expect(receiver.received).toHaveLength(2);
    expect(receiver.received[1]!.headers['lantern-event-id']).toBe(log!.eventId);
    expect(receiver.received[1]!.body).toBe(receiver.received[0]!.body);
  });

  it('posts a delivery once when its attempt ends while a later pass has just read it as due', async () => {
    const { subscriptionId } = await subscribe(['identity.user.registered']);
    await createUser(ca, tenantA, 'amina', 'password of amina');
    const release = receiver.holdAnswers();
    const first = dispatcher.runOnce();
    while (receiver.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // The next pass reads the due deliveries while the first attempt stands, and goes on with
    // them only once that attempt has ended: what it read is then out of date.
    const db = ca.ctx.store.db;
    const prepare = db.prepare.bind(db);
    let dueRead: () => void = () => undefined;
    const read = new Promise<void>((resolve) => (dueRead = resolve));
    let resume: () => void = () => undefined;
    const resumed = new Promise<void>((resolve) => (resume = resolve));
    db.prepare = (sql) => {
      const statement = prepare(sql);
      if (!sql.includes('tenant_rank')) return statement;
      db.prepare = prepare;
      return {
        run: (...params) => statement.run(...params),
        get: (...params) => statement.get(...params),
        send: (...params) => statement.send(...params),
        all: async (...params) => {
          const rows = await statement.all(...params);
          dueRead();
          await resumed;
          return rows;
        },
      };
    };
    const second = dispatcher.runOnce();
    await read;
    release();
    await first;
    resume();
    await second;
    expect(receiver.received).toHaveLength(1);
    expect((await deliveries(subscriptionId)).deliveries[0]).toMatchObject({
      status: 'delivered',
      attempts: 1,
    });
  });

  it("one tenant's slow endpoints do not hold up another tenant's deliveries", async () => {
    // Tenant B fills every delivery slot with endpoints that never answer in time.
    const slow = await startReceiver();
    const release = slow.holdAnswers();
    for (let i = 0; i < 8; i += 1) {
      const answer = await ca.admin('POST', '/v1/admin/webhooks', {
        tenant: tenantB,
        url: `${slow.url()}/${i}`,
        eventTypes: ['identity.user.registered'],
      });
      expect(answer.statusCode).toBe(201);
    }
    await subscribe(['identity.user.registered']);
    await createUser(ca, tenantB, 'bea', 'password of bea');
    await createUser(ca, tenantA, 'amina', 'password of amina');
    const delivering = dispatcher.runOnce();
    for (let waited = 0; receiver.received.length === 0 && waited < 2_000; waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(receiver.received).toHaveLength(1);
    release();
    await delivering;
    await slow.down();
  });

  it('a slow receiver does not hold up a sign-in, and a deleted subscription gets nothing more', async () => {
    const { subscriptionId } = await subscribe(['identity.user.logged_in']);
    await createUser(ca, tenantA, 'amina', 'password of amina');
    const release = receiver.holdAnswers();
    await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenantA, username: 'amina', password: 'password of amina' },
    });
    const delivering = dispatcher.runOnce();
    while (receiver.received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // The receiver has the first delivery and has not answered: a second sign-in goes through.
    const second = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenantA, username: 'amina', password: 'password of amina' },
    });
    expect(second.statusCode).toBe(200);
    expect((await deliveries(subscriptionId)).deliveries[0]).toMatchObject({ status: 'pending' });
    release();
    await delivering;
    expect((await deliveries(subscriptionId)).deliveries[0]).toMatchObject({ status: 'delivered' });

    await dispatcher.runOnce();
    expect(receiver.received).toHaveLength(2);
    const deleted = await ca.admin('POST', `/v1/admin/webhooks/${subscriptionId}/delete`, {});
    expect(deleted.json()).toMatchObject({ status: 'deleted' });
    await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenantA, username: 'amina', password: 'password of amina' },
    });
    await dispatcher.runOnce();
    expect(receiver.received).toHaveLength(2);
  });
});
