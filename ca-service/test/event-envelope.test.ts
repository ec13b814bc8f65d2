import type { EventEnvelope } from '@lantern/shared';
import { EventValidator, manualClock, runCli } from '@lantern/shared';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../src/audit/verify-chain.js';
import { eventCommands } from '../src/cli/event-commands.js';
import { initDataDir } from '../src/data-dir/init-data-dir.js';
import { openCa } from '../src/data-dir/open-ca.js';
import { eventMessage } from '../src/outbox/event-message.js';
import { eventHash } from '../src/store/event-store.js';
import { appendCheapEvents } from './support/cheap-events.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { T0, TEST_PASSPHRASE, createTenant, startTestCa } from '../../test/support/ca-fixture.js';

let ca: TestCa;
let tenantId = '';

beforeAll(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Envelope School');
  await ca.ctx.store.db.exec('CREATE TABLE events_original AS SELECT * FROM events');
});
afterEach(async () => {
  await ca.ctx.store.db.exec(
    'DELETE FROM events; INSERT INTO events SELECT * FROM events_original',
  );
});
afterAll(async () => ca.close());

const db = () => ca.ctx.store.db;
const newest = async () => {
  const event = (await ca.ctx.store.read({ after: (await ca.ctx.store.headPosition()) - 1 }))[0];
  if (!event) throw new Error('empty store');
  return event;
};

async function auditVerify() {
  const stdout: string[] = [];
  const code = await runCli(
    'lantern-ca',
    eventCommands,
    ['audit', 'verify', '--data-dir', ca.dir, '--json'],
    {
      stdout: (text) => stdout.push(text),
      stderr: () => undefined,
      readStdin: async () => '',
      env: {},
    },
  );
  return { code, json: JSON.parse(stdout.join('')) as Record<string, unknown> };
}

/** What a store written before the stamped fields holds: the rows without them, hashed so. */
async function makeLegacy(): Promise<void> {
  await db().exec(
    'UPDATE events SET schema_uri = NULL, source = NULL, ingested_at = NULL, retention_class = NULL, data_residency = NULL',
  );
  let previous = '0'.repeat(64);
  for await (const event of ca.ctx.store.readAll()) {
    const { hash: _stored, ...content } = event;
    previous = eventHash(previous, content);
    await db()
      .prepare('UPDATE events SET hash = ? WHERE position = ?')
      .run(previous, event.position);
  }
}

describe('the stamped envelope fields', () => {
  it('a stamped field edited after the fact breaks the chain at its row', async () => {
    await appendCheapEvents(ca.ctx, tenantId, 3);
    const target = (await newest()).position - 1;
    await db()
      .prepare("UPDATE events SET retention_class = 'ephemeral' WHERE position = ?")
      .run(target);
    expect(await verifyChain(ca.ctx.store)).toMatchObject({ ok: false, brokenAt: target });
  });

  it('a store of rows without them still verifies, and new rows chain on top of it', async () => {
    await appendCheapEvents(ca.ctx, tenantId, 3);
    await makeLegacy();
    const legacyHead = await ca.ctx.store.headPosition();
    expect((await ca.ctx.store.read({ after: legacyHead - 1 }))[0]).not.toHaveProperty('schemaUri');
    await appendCheapEvents(ca.ctx, tenantId, 2);
    expect(await newest()).toHaveProperty('schemaUri');
    expect(await auditVerify()).toMatchObject({
      code: 0,
      json: { ok: true, checked: legacyHead + 2 },
    });
    // The new rows' fields are inside their hash: dropping them is an edit like any other.
    await db()
      .prepare('UPDATE events SET source = NULL WHERE position = ?')
      .run(legacyHead + 1);
    expect(await verifyChain(ca.ctx.store)).toMatchObject({ ok: false, brokenAt: legacyHead + 1 });
  });

  it('names the schema the CA serves, its digest, the writer and the time of storing', async () => {
    await appendCheapEvents(ca.ctx, tenantId, 1);
    const event = await newest();
    expect(event).toMatchObject({
      schemaUri: expect.stringMatching(
        /^http:\/\/ca\.test\/v1\/schemas\/identity\.user\.reactivated\/v1#sha256-[0-9a-f]{64}$/,
      ),
      source: { service: 'lantern-ca', instance: expect.stringContaining(`/${process.pid}`) },
      ingestedAt: event.recordedAt,
      retentionClass: 'regulated',
    });
    expect(event).not.toHaveProperty('dataResidency');
    const [url, digest] = (event.schemaUri ?? '').split('#');
    const served = await ca.app.inject({ method: 'GET', url: new URL(url ?? '').pathname });
    expect(served.statusCode).toBe(200);
    expect(served.json()).toMatchObject({ $id: url });
    const listed = (await ca.app.inject({ method: 'GET', url: '/v1/schemas' }))
      .json<{ schemas: { schemaUri: string; digest: string }[] }>()
      .schemas.find((entry) => entry.schemaUri === url);
    expect(listed?.digest).toBe(digest);
  });

  it('travel on NATS and through the event API', async () => {
    await appendCheapEvents(ca.ctx, tenantId, 1);
    const event = await newest();
    const body = JSON.parse(Buffer.from(eventMessage(event).data).toString()) as EventEnvelope;
    expect(new EventValidator().check(body)).toEqual({ ok: true });
    expect(body).toMatchObject({
      schemaUri: event.schemaUri,
      source: event.source,
      ingestedAt: event.ingestedAt,
      retentionClass: 'regulated',
    });
    const page = await ca.admin('GET', `/v1/events?tenant=${tenantId}&after=${event.position - 1}`);
    expect(page.json<{ events: EventEnvelope[] }>().events[0]).toMatchObject({
      schemaUri: event.schemaUri,
      source: event.source,
      ingestedAt: event.ingestedAt,
    });
  });

  it('the envelope schema refuses a malformed stamp', async () => {
    const validator = new EventValidator();
    const [event] = await ca.ctx.store.read({ after: 0, limit: 1 });
    if (!event) throw new Error('empty store');
    const envelope = JSON.parse(Buffer.from(eventMessage(event).data).toString()) as Record<
      string,
      unknown
    >;
    for (const [field, value] of [
      ['dataResidency', 'mars'],
      ['source', { service: 'someone', instance: 'x' }],
      ['retentionClass', 'Regulated!'],
      ['ingestedAt', 'yesterday'],
    ] as const) {
      expect(validator.check({ ...envelope, [field]: value })).toMatchObject({ ok: false });
    }
  });
});

describe('data residency', () => {
  it('the region given at init is on every event the CA stores', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lantern-residency-'));
    try {
      const clock = manualClock(T0);
      await initDataDir({
        dataDir: dir,
        clock,
        publicUrl: 'http://eu.ca.test',
        root: 'dev-in-data-dir',
        passphrase: TEST_PASSPHRASE,
        dataResidency: 'eu',
      });
      const opened = await openCa({ dataDir: dir, clock, passphrase: TEST_PASSPHRASE });
      try {
        const [first] = await opened.context.store.read({ after: 0, limit: 1 });
        expect(first).toMatchObject({ dataResidency: 'eu' });
        expect(first?.schemaUri).toMatch(/^http:\/\/eu\.ca\.test\/v1\/schemas\//);
        // Every field set: the hash `append` writes is the one `verifyChain` recomputes.
        expect(await verifyChain(opened.context.store)).toMatchObject({ ok: true });
      } finally {
        await opened.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
