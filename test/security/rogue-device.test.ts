import { generateKeyPairSync } from 'node:crypto';
import { buildApp } from '@lantern/ca-service';
import { base32Decode, publicJwk, signJwt, totpAt } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboxEventInput } from '../../agent/src/outbox/outbox.js';
import { signIn } from '../../agent/src/signin/sign-in.js';
import type { RoundVerdict } from '../../agent/src/sync/sync-client.js';
import { SyncClient } from '../../agent/src/sync/sync-client.js';
import type { SigninWorld, TestDevice } from '../../agent/test/signin-harness.js';
import { PASSWORD, TEST_OPTIONS, startSigninWorld } from '../../agent/test/signin-harness.js';
import { DEVICE_AUTHORITY } from '../../ca-service/src/sync/device-authority.js';
import { createTenant, createUser, startTestCa } from '../support/ca-fixture.js';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Issue 15, a hostile device: a real CA over HTTP, a really enrolled agent (its own key, its
 * device proofs, its SQLite outbox), and events a rogue owner writes into that outbox. Each
 * forged event reaches the CA through the agent's own sync client and must change nothing there
 * that is not a fact about the device itself (ca-service/src/sync/device-authority.ts).
 */
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-rogue-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const FOREVER = '9999-12-31T23:59:59.999Z';
const noSleep = async () => {};

interface World {
  world: SigninWorld;
  device: TestDevice;
  amina: string;
  bilal: string;
}

/** amina signs in on the device (a CA grant there); bilal never came near it. */
async function rogueWorld(): Promise<World> {
  const world = await startSigninWorld(tempDir);
  const amina = await world.user('amina');
  const bilal = await world.user('bilal');
  const device = await world.device();
  expect(
    await signIn(device.agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS),
  ).toMatchObject({ ok: true, mode: 'online' });
  return { world, device, amina, bilal };
}

function syncClient(w: World, fetchImpl?: typeof fetch) {
  return new SyncClient({
    agent: w.device.opened,
    outbox: w.device.agent.outbox,
    sleep: noSleep,
    ...(fetchImpl === undefined ? {} : { fetch: fetchImpl }),
  });
}

/** Writes events into the device's outbox as its owner could, syncs, and gives each's refusal. */
async function push(
  w: World,
  events: (OutboxEventInput & { occurredAt?: string })[],
): Promise<(string | null)[]> {
  const seqs = events.map(({ occurredAt, ...event }) => {
    const entry = w.device.agent.outbox.append(event);
    if (occurredAt !== undefined) {
      // The device's owner can write anything into its own store, back-dated times included.
      const envelope = { ...entry.envelope, occurredAt };
      w.device.opened.store.db
        .prepare('UPDATE outbox SET envelope_json = ? WHERE seq = ?')
        .run(JSON.stringify(envelope), entry.seq);
    }
    return entry.seq;
  });
  const outcome = await syncClient(w).run();
  expect(outcome.lastFailure).toBeNull();
  return seqs.map(
    (seq) =>
      (
        w.device.opened.store.db
          .prepare('SELECT rejected_code AS code FROM outbox WHERE seq = ?')
          .get(seq) as { code: string | null } | undefined
      )?.code ?? null,
  );
}

const caLogin = (w: World, username: string, password: string, totp?: string) =>
  w.world.ca.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: w.world.tenantId, username, password, ...(totp ? { totp } : {}) },
  });

const userRow = async (w: World, userId: string) =>
  (await w.world.ca.ctx.store.db
    .prepare('SELECT failure_count, locked_until FROM users WHERE user_id = ?')
    .get(userId)) as { failure_count: number; locked_until: string | null };

const feed = (w: World) =>
  w.world.ca.ctx.store.db
    .prepare('SELECT kind, subject_id AS id FROM revocation_feed WHERE tenant_id = ?')
    .all(w.world.tenantId);

const sessionsOf = async (w: World, userId: string) =>
  (await w.world.ca.ctx.store.db
    .prepare('SELECT session_id, device_id, status FROM sessions WHERE user_id = ?')
    .all(userId)) as { session_id: string; device_id: string | null; status: string }[];

const passkeysOf = (w: World, userId: string) =>
  w.world.ca.ctx.store.db.prepare('SELECT * FROM user_passkeys WHERE user_id = ?').all(userId);

const sessionId = (w: World) => w.world.ca.ctx.ids.next('ses');

describe('a rogue but active device: its events are facts about itself', () => {
  let w: World;
  beforeAll(async () => {
    w = await rogueWorld();
  });
  afterAll(async () => w.world.close());

  it('identity.user.locked for another user locks nothing at the CA and stays out of the feed', async () => {
    const deviceId = w.device.opened.binding.deviceId;
    const refusals = await push(w, [
      {
        eventType: 'identity.user.locked',
        payload: { userId: w.bilal, reason: 'admin', lockedUntil: FOREVER },
      },
      {
        eventType: 'identity.user.locked',
        payload: {
          userId: w.bilal,
          reason: 'too_many_failures',
          lockedUntil: FOREVER,
          offline: true,
          deviceId,
        },
      },
    ]);
    expect((await userRow(w, w.bilal)).locked_until).toBeNull();
    expect(await feed(w)).toEqual([]);
    expect((await caLogin(w, 'bilal', PASSWORD)).statusCode).toBe(200);
    expect(refusals).toEqual(['event_not_allowed', null]);
  });

  it('identity.user.logged_in never resets the CA failure counter: online guessing still locks', async () => {
    const chidi = await w.world.user('chidi');
    for (let i = 0; i < 4; i += 1) {
      expect((await caLogin(w, 'chidi', 'a wrong guess')).statusCode).toBe(401);
    }
    const deviceId = w.device.opened.binding.deviceId;
    const signedIn = (offline: boolean) => ({
      eventType: 'identity.user.logged_in',
      actor: { type: 'user' as const, id: chidi },
      payload: { userId: chidi, sessionId: sessionId(w), offline, deviceId, amr: ['pwd'] },
    });
    const refusals = await push(w, [signedIn(false), signedIn(true)]);
    expect((await userRow(w, chidi)).failure_count).toBe(4);
    expect((await caLogin(w, 'chidi', 'a wrong guess')).statusCode).toBe(401);
    expect((await userRow(w, chidi)).locked_until).not.toBeNull();
    // Locked: the right password is refused, and answers like an unknown account.
    const right = await caLogin(w, 'chidi', PASSWORD);
    expect(right.statusCode).toBe(401);
    expect(right.json()).toMatchObject({ code: 'invalid_credentials' });
    expect(refusals).toEqual(['event_not_allowed', null]);
  });

  it("identity.session.revoked ends this device's sessions only, and never enters the feed", async () => {
    const dara = await w.world.user('dara');
    const elsewhere = await caLogin(w, 'dara', PASSWORD);
    expect(elsewhere.statusCode).toBe(200);
    const [foreign] = (await sessionsOf(w, dara)).filter((s) => s.status === 'active');
    const [own] = (await sessionsOf(w, w.amina)).filter(
      (s) => s.device_id === w.device.opened.binding.deviceId,
    );
    expect(foreign?.device_id).toBeNull();
    const revoked = (sessionId: string, userId: string) => ({
      eventType: 'identity.session.revoked',
      actor: { type: 'user' as const, id: userId },
      payload: { sessionId, userId, reason: 'logout' },
    });
    const refusals = await push(w, [
      revoked(foreign?.session_id ?? '', dara),
      revoked(own?.session_id ?? '', w.amina),
    ]);
    expect(
      (await sessionsOf(w, dara)).find((s) => s.session_id === foreign?.session_id)?.status,
    ).toBe('active');
    expect(
      (await sessionsOf(w, w.amina)).find((s) => s.session_id === own?.session_id)?.status,
    ).toBe('revoked');
    expect(await feed(w)).toEqual([]);
    expect(refusals).toEqual(['event_not_allowed', null]);
  });

  it('an old version is held to the rules of the version it is read as (session.revoked v1 without userId)', async () => {
    const ekon = await w.world.user('ekon');
    expect(
      await signIn(w.device.agent, { username: 'ekon', password: PASSWORD }, TEST_OPTIONS),
    ).toMatchObject({ ok: true });
    const [own] = (await sessionsOf(w, ekon)).filter(
      (s) => s.device_id === w.device.opened.binding.deviceId && s.status === 'active',
    );
    // v1 had no userId: it is read as the actor's, so naming bilal as actor would put a
    // sign-out of ekon's session in bilal's history.
    const refusals = await push(w, [
      {
        eventType: 'identity.session.revoked',
        eventVersion: 1,
        actor: { type: 'user' as const, id: w.bilal },
        payload: { sessionId: own?.session_id ?? '', reason: 'logout' },
      },
    ]);
    expect(refusals).toEqual(['event_not_allowed']);
    expect(await w.world.ca.ctx.store.read({ eventType: 'identity.session.revoked' })).toEqual(
      expect.not.arrayContaining([
        expect.objectContaining({ payload: expect.objectContaining({ userId: w.bilal }) }),
      ]),
    );
  });

  it('identity.session.created cannot outlive a grant, nor open the way to a forged passkey', async () => {
    const emeka = await w.world.user('emeka');
    const deviceId = w.device.opened.binding.deviceId;
    const created = (userId: string, expiresAt: string) => ({
      eventType: 'identity.session.created',
      actor: { type: 'user' as const, id: userId },
      payload: { sessionId: sessionId(w), userId, offline: true, deviceId, expiresAt },
    });
    const grantEnd = (
      (await w.world.ca.ctx.store.db
        .prepare('SELECT offline_until AS until FROM grants WHERE user_id = ?')
        .get(w.amina)) as { until: string }
    ).until;
    const refusals = await push(w, [
      created(emeka, FOREVER),
      created(w.amina, FOREVER),
      created(w.amina, grantEnd),
    ]);
    // A session a device reports is no CA sign-in: the forged passkey that follows is refused.

    const passkey = {
      eventType: 'identity.user.mfa_enrolled',
      actor: { type: 'user' as const, id: emeka },
      payload: { userId: emeka, kind: 'webauthn', credentialId: 'forged-credential', deviceId },
    };
    const passkeyRefusal = await push(w, [passkey]);
    expect(await passkeysOf(w, emeka)).toEqual([]);
    expect(passkeyRefusal).toEqual(['event_not_allowed']);
    expect((await sessionsOf(w, emeka)).filter((s) => s.device_id === deviceId)).toEqual([]);
    expect(refusals).toEqual(['event_not_allowed', 'event_not_allowed', null]);
  });

  it('every row of the authority table is in docs/device-events.md, and nothing else', () => {
    const doc = readFileSync(new URL('../../docs/device-events.md', import.meta.url), 'utf8');
    const rows = doc
      .split('\n')
      .filter((line) => line.startsWith('| `identity.'))
      .map((line) =>
        line
          .split('|')
          .slice(1, -1)
          .map((cell) => cell.trim()),
      )
      .map(([type = '', asserts, effect]) => [type.replaceAll('`', ''), asserts, effect]);
    expect(rows).toEqual(
      Object.entries(DEVICE_AUTHORITY).map(([type, rule]) => [type, rule.asserts, rule.effect]),
    );
  });
});

describe('a revoked device: only the hand-over, and it changes nothing', () => {
  let w: World;
  beforeAll(async () => {
    w = await rogueWorld();
  });
  afterAll(async () => w.world.close());

  it('stores what it hands over as records with no effect, and quarantines every offline sign-in', async () => {
    const deviceId = w.device.opened.binding.deviceId;
    const beforeRevocation = new Date(w.world.ca.clock.now() - 3_600_000).toISOString();
    w.world.advance(60_000);
    await w.world.ca.admin('POST', `/v1/admin/devices/${deviceId}/revoke`, { reason: 'stolen' });
    const sessionsBefore = (await sessionsOf(w, w.amina)).length;
    const grantEnd = (
      (await w.world.ca.ctx.store.db
        .prepare('SELECT offline_until AS until FROM grants WHERE user_id = ?')
        .get(w.amina)) as { until: string }
    ).until;
    const actor = { type: 'user' as const, id: w.amina };
    const refusals = await push(w, [
      {
        eventType: 'identity.user.logged_in',
        actor,
        occurredAt: beforeRevocation,
        payload: {
          userId: w.amina,
          sessionId: sessionId(w),
          offline: true,
          deviceId,
          amr: ['pwd'],
        },
      },
      {
        eventType: 'identity.session.created',
        actor,
        payload: {
          sessionId: sessionId(w),
          userId: w.amina,
          offline: true,
          deviceId,
          expiresAt: grantEnd,
        },
      },
      {
        eventType: 'identity.user.mfa_enrolled',
        actor,
        payload: { userId: w.amina, kind: 'webauthn', credentialId: 'after-revocation', deviceId },
      },
    ]);
    // Handed over, stored as records: nothing refused, nothing lost.
    expect(refusals).toEqual([null, null, null]);
    expect(await sessionsOf(w, w.amina)).toHaveLength(sessionsBefore);
    expect(await passkeysOf(w, w.amina)).toEqual([]);
    const quarantined = (await w.world.ca.ctx.store.db
      .prepare('SELECT COUNT(*) AS n FROM quarantined_events WHERE device_id = ?')
      .get(deviceId)) as { n: number };
    expect(quarantined.n).toBe(1);
  });
});

describe('sync answers a man in the middle rewrites', () => {
  let w: World;
  beforeAll(async () => {
    w = await rogueWorld();
  });
  afterAll(async () => w.world.close());

  const lastSyncAt = () =>
    (
      w.device.opened.store.db.prepare('SELECT last_sync_at AS at FROM sync_state').get() as {
        at: number | null;
      }
    ).at;

  /** Forwards to the CA (which does its part in full), then hands back `edit`'s answer. */
  const mitm =
    (edit: (body: Record<string, unknown>) => Record<string, unknown>): typeof fetch =>
    async (input, init) => {
      const response = await fetch(input, init);
      if (response.status !== 200) return response;
      const body = edit((await response.json()) as Record<string, unknown>);
      return new Response(JSON.stringify(body), { status: 200, headers: response.headers });
    };

  it('refuses an older signed page, or a whole older answer, and the offline window does not restart', async () => {
    let old: Record<string, unknown> = {};
    const first = await syncClient(
      w,
      mitm((body) => {
        old = structuredClone(body);
        return body;
      }),
    ).round();
    expect(first.ok).toBe(true);
    await w.world.ca.admin('POST', `/v1/admin/users/${w.amina}/suspend`, { reason: 'left' });
    w.world.advance(60_000);
    const synced = lastSyncAt();

    const splice = await syncClient(
      w,
      mitm((body) => ({ ...body, revocations: old['revocations'] })),
    ).round();
    expect(splice).toMatchObject({ ok: false, failure: { reason: 'answer_unbound' } });
    const replay = await syncClient(
      w,
      mitm(() => old),
    ).round();
    expect(replay).toMatchObject({ ok: false, failure: { reason: 'server_time_invalid' } });
    expect(lastSyncAt()).toBe(synced);
    expect(w.device.count('revocations')).toBe(0);

    const honest: RoundVerdict = await syncClient(w).round();
    expect(honest.ok && honest.result.revocationsApplied).toBeGreaterThan(0);
    expect(lastSyncAt()).toBeGreaterThan(synced ?? 0);
  });

  it('refuses an injected JWKS: lantern-agent verify never accepts the attacker’s tokens', async () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...publicJwk(attacker.publicKey), kid: 'attacker', use: 'sig', alg: 'ES256' };
    w.device.opened.store.db.prepare('UPDATE sync_state SET jwks_etag = NULL').run();
    const injected = await syncClient(
      w,
      mitm((body) => ({ ...body, jwks: { keys: [jwk] }, jwksEtag: 'attacker' })),
    ).round();
    expect(injected.ok).toBe(false);
    const now = Math.floor(w.world.agentClock.now() / 1000);
    const forged = signJwt(
      {
        iss: w.world.caUrl,
        aud: 'lantern',
        sub: w.bilal,
        sid: 'ses_forged',
        tenant: w.world.tenantId,
        iat: now,
        exp: now + 600,
      },
      { typ: 'at+jwt', kid: 'attacker' },
      attacker.privateKey,
    );
    expect(w.device.verifier.verifyAccessToken(forged).ok).toBe(false);
    // The keys the CA signed are taken as before.
    expect(await syncClient(w).round()).toMatchObject({ ok: true });
    expect(w.device.count('jwks')).toBe(1);
  });
});

describe('a TOTP secret sealed into a grant on a device that is then revoked', () => {
  let w: World;
  beforeAll(async () => {
    w = await rogueWorld();
  });
  afterAll(async () => w.world.close());

  it('is retired with the device: the code from the stolen seed counts for nothing', async () => {
    const login = await caLogin(w, 'amina', PASSWORD);
    const auth = { authorization: `Bearer ${login.json<{ accessToken: string }>().accessToken}` };
    const enrolled = await w.world.ca.app.inject({
      method: 'POST',
      url: '/v1/mfa/totp/enroll',
      headers: auth,
      payload: {},
    });
    const seed = base32Decode(enrolled.json<{ secret: string }>().secret);
    const code = () =>
      totpAt(
        { secret: seed, algorithm: 'SHA1', digits: 6, period: 30 },
        Math.floor(w.world.ca.clock.now() / 1000),
      );
    const confirmed = await w.world.ca.app.inject({
      method: 'POST',
      url: '/v1/mfa/totp/confirm',
      headers: auth,
      payload: { code: code() },
    });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    w.world.advance(30_000);
    const onDevice = await signIn(
      w.device.agent,
      { username: 'amina', password: PASSWORD, totp: code() },
      TEST_OPTIONS,
    );
    expect(onDevice).toMatchObject({ ok: true, mode: 'online' });
    expect(w.device.count('verifiers')).toBeGreaterThan(1);

    const deviceId = w.device.opened.binding.deviceId;
    await w.world.ca.admin('POST', `/v1/admin/devices/${deviceId}/revoke`, { reason: 'stolen' });
    const removed = await w.world.ca.ctx.store.read({ eventType: 'identity.user.mfa_removed' });
    expect(removed.map((event) => event.payload)).toEqual([
      { userId: w.amina, kind: 'totp', reason: 'device_revoked' },
    ]);
    w.world.advance(30_000);
    const withStolenCode = await caLogin(w, 'amina', PASSWORD, code());
    expect(withStolenCode.statusCode).toBe(200);
    expect(withStolenCode.json<{ amr: string[] }>().amr ?? []).not.toContain('otp');
    const status = await w.world.ca.app.inject({
      method: 'GET',
      url: '/v1/mfa',
      headers: {
        authorization: `Bearer ${withStolenCode.json<{ accessToken: string }>().accessToken}`,
      },
    });
    expect(status.json()).toMatchObject({ totp: 'none' });
  });
});

describe('the per-account sign-in limit', () => {
  it('counts one account once, however its tenant is named (slug or id)', async () => {
    const ca = await startTestCa();
    try {
      const tenantId = await createTenant(ca, 'Hillside');
      await createUser(ca, tenantId, 'amina', PASSWORD);
      const app = await buildApp({
        context: ca.ctx,
        loginRateLimitPerMinute: 1_000,
        loginPerAccountRateLimitPerMinute: 3,
      });
      const slug = (
        (await ca.ctx.store.db
          .prepare('SELECT slug FROM tenants WHERE tenant_id = ?')
          .get(tenantId)) as {
          slug: string;
        }
      ).slug;
      const attempt = (tenant: string) =>
        app.inject({
          method: 'POST',
          url: '/v1/auth/login',
          remoteAddress: '10.0.0.1',
          payload: { tenant, username: 'amina', password: 'a wrong guess' },
        });
      try {
        expect((await attempt(slug)).statusCode).toBe(401);
        expect((await attempt(tenantId)).statusCode).toBe(401);
        expect((await attempt(slug)).statusCode).toBe(401);
        expect((await attempt(tenantId)).statusCode).toBe(429);
      } finally {
        await app.close();
      }
    } finally {
      await ca.close();
    }
  });
});
