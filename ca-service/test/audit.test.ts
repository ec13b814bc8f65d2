import { runCli } from '@lantern/shared';
import { appendCheapEvents } from './support/cheap-events.js';
import { compactVerify, importX509 } from 'jose';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuditCheckpoints } from '../src/audit/audit-checkpoints.js';
import { verifyChain } from '../src/audit/verify-chain.js';
import { eventCommands } from '../src/cli/event-commands.js';
import { eventHash } from '../src/store/event-store.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { TEST_PASSPHRASE, createTenant, startTestCa } from '../../test/support/ca-fixture.js';

let ca: TestCa;
let checkpoints: AuditCheckpoints;
let tenantId = '';

// One CA for the file (creating one is the slow part); each test tampers with a copy of the
// same events and gets the originals back afterwards.
beforeAll(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Audit School');
  const userId = ca.ctx.ids.next('usr');
  await ca.ctx.store.append([
    {
      eventType: 'identity.user.registered',
      aggregateId: userId,
      tenantId,
      actor: { type: 'system', id: 'test' },
      correlationId: 'audit-test',
      payload: { userId, username: 'ada', role: 'learner', status: 'active' },
    },
  ]);
  await appendCheapEvents(ca.ctx, tenantId, 10);
  await ca.ctx.store.db.exec('CREATE TABLE events_original AS SELECT * FROM events');
  checkpoints = new AuditCheckpoints(ca.ctx.store, ca.clock, {
    issuingPem: ca.ctx.ca.issuingPem,
    signer: ca.ctx.ca.authority.signer,
  });
});
afterEach(async () => {
  await ca.ctx.store.db.exec(
    'DELETE FROM events; INSERT INTO events SELECT * FROM events_original; DELETE FROM audit_checkpoints',
  );
});
afterAll(async () => ca.close());

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout: string[] = [];
  const code = await runCli(
    'lantern-ca',
    eventCommands,
    [...args, '--data-dir', ca.dir, '--json'],
    {
      stdout: (text) => stdout.push(text),
      stderr: () => undefined,
      readStdin: async () => '',
      env,
    },
  );
  return { code, json: JSON.parse(stdout.join('')) as Record<string, unknown> };
}

const db = () => ca.ctx.store.db;

/** The position of the registration of "ada": a row with a payload worth forging. */
const registration = async () =>
  (
    (await db()
      .prepare("SELECT position FROM events WHERE event_type = 'identity.user.registered'")
      .get()) as { position: number }
  ).position;

/** Rewrites the chain from `position` to the head as someone with the database could. */
async function rehashFrom(position: number): Promise<void> {
  const events = await ca.ctx.store.read({ after: position - 2, limit: 10_000 });
  let previous = events[0]?.position === position - 1 ? (events.shift()?.hash ?? '') : '';
  for (const event of events) {
    const { hash: _old, ...content } = event;
    previous = eventHash(previous, content);
    await db()
      .prepare('UPDATE events SET hash = ? WHERE position = ?')
      .run(previous, event.position);
  }
}

describe('audit verify', () => {
  it('passes an untouched store and reports its head', async () => {
    const head = await ca.ctx.store.headPosition();
    expect(await cli(['audit', 'verify'])).toEqual({
      code: 0,
      json: {
        ok: true,
        checked: head,
        head: { position: head, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
        checkpoints: 0,
      },
    });
  });

  it('names the position of an edited row', async () => {
    const target = await registration();
    await db()
      .prepare(
        "UPDATE events SET payload = replace(payload, 'learner', 'admin') WHERE position = ?",
      )
      .run(target);
    const result = await cli(['audit', 'verify']);
    expect(result.code).toBe(1);
    expect(result.json).toMatchObject({
      code: 'audit_chain_broken',
      message: expect.stringContaining(`position ${target}`),
    });
    expect(await verifyChain(ca.ctx.store)).toMatchObject({
      ok: false,
      brokenAt: target,
      checked: target - 1,
    });
  });

  it('catches an edit whose hash was recomputed at the next row, and a deleted row', async () => {
    await db().prepare("UPDATE events SET actor_id = 'someone-else' WHERE position = 4").run();
    const [edited] = await ca.ctx.store.read({ after: 3, limit: 1 });
    const [before] = await ca.ctx.store.read({ after: 2, limit: 1 });
    if (!edited || !before) throw new Error('store too small');
    const { hash: _old, ...content } = edited;
    await db()
      .prepare('UPDATE events SET hash = ? WHERE position = 4')
      .run(eventHash(before.hash, content));
    expect(await verifyChain(ca.ctx.store)).toMatchObject({ ok: false, brokenAt: 5 });

    await db().prepare('DELETE FROM events WHERE position = 2').run();
    expect(await verifyChain(ca.ctx.store)).toMatchObject({
      ok: false,
      brokenAt: 2,
      reason: 'position 2 is missing',
    });
  });

  it('names a row whose payload no longer parses', async () => {
    await db().prepare("UPDATE events SET payload = '{oops' WHERE position = 3").run();
    expect(await verifyChain(ca.ctx.store)).toMatchObject({ ok: false, brokenAt: 3 });
  });
});

describe('audit checkpoints', () => {
  it('signs the head with the issuing CA key (JWS, x5c) and verifies it', async () => {
    const checkpoint = await checkpoints.create();
    const head = (await ca.ctx.store.read({ after: (await ca.ctx.store.headPosition()) - 1 }))[0];
    expect(checkpoint).toMatchObject({ position: head?.position, headHash: head?.hash });
    const key = await importX509(ca.ctx.ca.issuingPem, 'ES256');
    const { payload, protectedHeader } = await compactVerify(checkpoint.jws, key);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'lantern-checkpoint+jws' });
    expect(protectedHeader.x5c).toHaveLength(1);
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({
      position: checkpoint.position,
      headHash: checkpoint.headHash,
      time: new Date(ca.clock.now()).toISOString(),
    });
    expect(await checkpoints.verify(checkpoint.jws)).toMatchObject({ ok: true });
    const [header, body] = checkpoint.jws.split('.');
    expect(await checkpoints.verify(`${header}.${body}.${'A'.repeat(86)}`)).toMatchObject({
      ok: false,
    });
  });

  it('exposes a consistent rewrite of the chain that the chain alone cannot see', async () => {
    await checkpoints.create();
    const target = await registration();
    await db()
      .prepare(
        "UPDATE events SET payload = replace(payload, 'learner', 'admin') WHERE position = ?",
      )
      .run(target);
    await rehashFrom(target);
    expect((await verifyChain(ca.ctx.store)).ok).toBe(true);
    const result = await cli(['audit', 'verify']);
    expect(result).toMatchObject({
      code: 1,
      json: {
        code: 'audit_chain_broken',
        message: expect.stringContaining('is not the signed one'),
      },
    });
  });

  it('is created by the CLI on demand and exported as NDJSON', async () => {
    const created = await cli(['audit', 'checkpoint'], { LANTERN_CA_PASSPHRASE: TEST_PASSPHRASE });
    expect(created.code).toBe(0);
    expect(created.json).toMatchObject({ position: await ca.ctx.store.headPosition() });
    const out = join(ca.dir, 'checkpoints.ndjson');
    expect(await cli(['audit', 'checkpoints', '--out', out])).toMatchObject({
      code: 0,
      json: { count: 1, out },
    });
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({ jws: created.json['jws'] });
    expect((await cli(['audit', 'verify'])).json).toMatchObject({ ok: true, checkpoints: 1 });
  });

  it('signs on a schedule, only when events were appended', async () => {
    const checkpointing = checkpoints.schedule(20, ca.ctx.logger);
    try {
      const count = async () => (await checkpoints.list()).length;
      const until = async (condition: () => Promise<boolean>) => {
        for (let i = 0; i < 200 && !(await condition()); i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      await until(async () => (await count()) === 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await count()).toBe(1);
      await appendCheapEvents(ca.ctx, tenantId, 3);
      await until(async () => (await count()) === 2);
      expect((await checkpoints.list())[0]?.position).toBe(await ca.ctx.store.headPosition());
    } finally {
      await checkpointing.stop();
    }
  });
});
