import { manualClock } from '@lantern/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox } from '../src/outbox/outbox.js';
import type { SyncProgress } from '../src/sync/sync-client.js';
import { SyncClient } from '../src/sync/sync-client.js';
import { signedRevocationPage } from '../../ca-service/src/revocation/revocation-pages.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';
import type { TestAgent } from './support/sync-fixture.js';
import {
  caEventsOf,
  enrolledAgent,
  onlineLogin,
  reopen,
  validator,
} from './support/sync-fixture.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();

let ca: TestCa;
let caUrl: string;
let tenantId: string;
let agent: TestAgent;

beforeEach(async () => {
  ca = await startTestCa({ now: Date.now() });
  caUrl = await ca.app.listen({ port: 0, host: '127.0.0.1' });
  tenantId = await createTenant(ca, 'Hillside');
  agent = await enrolledAgent(ca, caUrl, tenantId, tempDir());
});
afterEach(async () => {
  agent.close();
  await ca.close();
});

const noSleep = async () => {};

function client(options: Partial<ConstructorParameters<typeof SyncClient>[0]> = {}) {
  return new SyncClient({ agent, outbox: agent.outbox, sleep: noSleep, ...options });
}

/** Rewrites the CA's 200 answers; the CA has processed the request in full by then. */
function rewriting(edit: (body: Record<string, unknown>) => Promise<void> | void): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (response.status !== 200) return response;
    const body = (await response.json()) as Record<string, unknown>;
    await edit(body);
    return new Response(JSON.stringify(body), { status: 200, headers: response.headers });
  };
}

function revocations(body: Record<string, unknown>) {
  return body['revocations'] as { page: string; next: number; more: boolean };
}

describe('sync rounds against a real CA over HTTP', () => {
  it('pushes a backlog in rounds: the CA holds every event once and the outbox is fully acked', async () => {
    const eventIds = agent.fill(1_234);
    const progress: SyncProgress[] = [];
    const outcome = await client({ onProgress: (p) => progress.push(p) }).run();

    expect(outcome).toMatchObject({
      completed: true,
      rounds: 3,
      pushed: 1_234,
      acked: 1_234,
      accepted: 1_234,
      duplicates: 0,
      rejected: 0,
      pending: 0,
      failures: 0,
      lastFailure: null,
      device: { revoked: false },
    });
    expect(progress.map((p) => [p.acked, p.pending])).toEqual([
      [500, 734],
      [1_000, 234],
      [1_234, 0],
    ]);
    expect(await caEventsOf(ca, agent.binding.deviceId)).toEqual({ rows: 1_234, distinct: 1_234 });
    const stored = (await ca.ctx.store.db
      .prepare("SELECT event_id AS id FROM events WHERE event_type = 'identity.user.login_failed'")
      .all()) as { id: string }[];
    expect(new Set(stored.map((row) => row.id))).toEqual(new Set(eventIds));
    expect(agent.outbox.head()).toEqual({ lastSeq: 1_234, ackedSeq: 1_234 });

    const state = agent.store.db.prepare('SELECT * FROM sync_state').get() as Record<
      string,
      unknown
    >;
    expect(state['last_server_time']).toBe(Math.floor(ca.clock.now() / 1000) * 1000);
    expect(state['last_sync_at']).toEqual(expect.any(Number));
    expect(state['jwks_etag']).toEqual(expect.any(String));
    expect(agent.count('jwks')).toBe(1);
    expect(agent.trustedTime.state().markMs).toBeGreaterThanOrEqual(
      state['last_server_time'] as number,
    );

    // Nothing left: one round that pushes nothing and is not sent the unchanged JWKS again.
    let sentEtag: unknown;
    const again = await client({
      fetch: rewriting((body) => {
        sentEtag = body['jwks'];
      }),
    }).run();
    expect(again).toMatchObject({ completed: true, rounds: 1, pushed: 0, acked: 0 });
    expect(sentEtag).toBeUndefined();
  });

  it('loses nothing and duplicates nothing when the answer is lost after the CA committed', async () => {
    agent.fill(300);
    let calls = 0;
    const losing: typeof fetch = async (input, init) => {
      calls += 1;
      const response = await fetch(input, init);
      if (calls > 1) return response;
      await response.text();
      throw new TypeError('fetch failed', { cause: new Error('socket hang up') });
    };
    const sync = client({ fetch: losing });

    const lost = await sync.round();
    expect(lost).toMatchObject({ ok: false, failure: { reason: 'unreachable', retryable: true } });
    expect(await caEventsOf(ca, agent.binding.deviceId)).toEqual({ rows: 300, distinct: 300 });
    expect(agent.outbox.depth()).toBe(300);

    const retried = await sync.round();
    expect(retried).toMatchObject({
      ok: true,
      result: { pushed: 300, ack: 300, acked: 300, accepted: 0, duplicates: 300, pending: 0 },
    });
    expect(await caEventsOf(ca, agent.binding.deviceId)).toEqual({ rows: 300, distinct: 300 });
    expect(agent.outbox.depth()).toBe(0);
  });

  it('finishes a backlog exactly once when every other answer is lost', async () => {
    agent.fill(2_100);
    let calls = 0;
    const flaky: typeof fetch = async (input, init) => {
      calls += 1;
      const response = await fetch(input, init);
      if (calls % 2 === 1) {
        await response.text();
        throw new TypeError('fetch failed');
      }
      return response;
    };
    const outcome = await client({ fetch: flaky }).run();
    expect(outcome).toMatchObject({ completed: true, acked: 2_100, pending: 0 });
    expect(outcome.failures).toBe(5);
    expect(outcome.duplicates).toBe(2_100);
    expect(await caEventsOf(ca, agent.binding.deviceId)).toEqual({ rows: 2_100, distinct: 2_100 });
  });

  it('acks events the CA refuses for good and keeps them marked for inspection', async () => {
    agent.fill(2);
    // Same store and sequence counter, but events naming another device: refused for good.
    const stranger = new Outbox(agent.store, {
      identity: { deviceId: 'dev_01J9Z3YQ8M6W4Q9V2K7T5R3N1C', tenantId },
      trustedTime: agent.trustedTime,
      validator,
    });
    stranger.append({
      eventType: 'identity.user.login_failed',
      payload: { reason: 'invalid_credentials', offline: true },
    });
    agent.fill(1);

    const outcome = await client().run();
    expect(outcome).toMatchObject({ completed: true, acked: 4, accepted: 3, rejected: 1 });
    expect(agent.outbox.depth()).toBe(0);
    const refused = agent.store.db
      .prepare('SELECT seq, rejected_code AS code FROM outbox WHERE rejected_code IS NOT NULL')
      .all();
    expect(refused).toEqual([{ seq: 3, code: 'tenant_mismatch' }]);
  });

  it('applies a feed of many pages, each far above 16 KiB, and moves the cursor to its end', async () => {
    const userId = await createUser(ca, tenantId, 'amina', 'correct horse battery');
    const sessionIds = Array.from({ length: 1_200 }, () => ca.ctx.ids.next('ses'));
    await ca.ctx.store.append(
      sessionIds.map((sessionId) => ({
        eventType: 'identity.session.revoked',
        aggregateId: sessionId,
        tenantId,
        actor: { type: 'system' as const, id: 'test' },
        correlationId: sessionId,
        payload: { sessionId, userId, reason: 'admin' },
      })),
    );
    let largest = 0;
    const indexed = new Set<string>();
    const outcome = await client({
      onRevocationsRecorded: (rows) => rows.forEach((row) => indexed.add(row.subjectId)),
      fetch: rewriting((body) => {
        largest = Math.max(largest, revocations(body).page.length);
      }),
    }).run();
    expect(largest).toBeGreaterThan(64 * 1024);
    expect(outcome).toMatchObject({
      completed: true,
      rounds: 3,
      pagesApplied: 3,
      revocationsApplied: 1_200,
      cursor: 1_200,
    });
    expect(agent.cursor()).toBe(1_200);
    expect(agent.count('revocations', "kind = 'session'")).toBe(1_200);
    expect(indexed).toEqual(new Set(sessionIds));
  });

  describe('refuses an answer it cannot trust and applies nothing of it', () => {
    let otherCa: TestCa | undefined;
    afterEach(async () => {
      await otherCa?.close();
      otherCa = undefined;
    });

    const etag = () => agent.store.db.prepare('SELECT jwks_etag AS etag FROM sync_state').get();
    // The etag of the key set taken at enrollment: a refused round must not move it.
    let enrolledEtag: unknown;

    async function prepare() {
      enrolledEtag = etag();
      expect(enrolledEtag).toEqual({ etag: expect.any(String) });
      await createUser(ca, tenantId, 'amina', 'correct horse battery');
      const login = await onlineLogin(agent, caUrl, tenantId, 'amina', 'correct horse battery');
      await ca.admin('POST', `/v1/admin/sessions/${login.sessionId}/revoke`, {});
      agent.fill(3);
      return login;
    }

    function expectNothingApplied() {
      expect(agent.outbox.depth()).toBe(3);
      expect(agent.cursor()).toBe(0);
      expect(agent.count('revocations')).toBe(0);
      expect(agent.count('sessions', 'ended_at IS NULL')).toBe(1);
      expect(etag()).toEqual(enrolledEtag);
      expect(agent.store.db.prepare('SELECT last_server_time AS t FROM sync_state').get()).toEqual({
        t: null,
      });
    }

    it('a page signed by another CA', async () => {
      await prepare();
      otherCa = await startTestCa({ now: ca.clock.now() });
      const foreign = otherCa;
      const verdict = await client({
        fetch: rewriting(async (body) => {
          revocations(body).page = (await signedRevocationPage(foreign.ctx, tenantId, 0)).page;
        }),
      }).round();
      expect(verdict).toMatchObject({
        ok: false,
        failure: { reason: 'page_unverified', detail: expect.stringContaining('chain') },
      });
      expectNothingApplied();
    });

    it('a page of another tenant', async () => {
      await prepare();
      const elsewhere = await createTenant(ca, 'Elsewhere');
      const verdict = await client({
        fetch: rewriting(async (body) => {
          revocations(body).page = (await signedRevocationPage(ca.ctx, elsewhere, 0)).page;
        }),
      }).round();
      expect(verdict).toMatchObject({ ok: false, failure: { reason: 'page_wrong_tenant' } });
      expectNothingApplied();
    });

    it('a page for another cursor', async () => {
      await prepare();
      const verdict = await client({
        fetch: rewriting(async (body) => {
          revocations(body).page = (await signedRevocationPage(ca.ctx, tenantId, 1)).page;
        }),
      }).round();
      expect(verdict).toMatchObject({ ok: false, failure: { reason: 'page_wrong_cursor' } });
      expectNothingApplied();
    });

    it('a page signed by a device key under the same root', async () => {
      await prepare();
      const x5c = [agent.binding.certificatePem, ...agent.binding.chainPems].map((pem) =>
        pem.replace(/-----[^-]+-----|\s/g, ''),
      );
      const verdict = await client({
        fetch: rewriting((body) => {
          const claims = JSON.parse(
            Buffer.from(revocations(body).page.split('.')[1] ?? '', 'base64url').toString(),
          ) as Record<string, unknown>;
          claims['entries'] = [];
          claims['next'] = 0;
          const header = { alg: 'ES256', typ: 'lantern-revocations+jws', x5c };
          const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
          const signature = agent.deviceKey.sign(Buffer.from(input)).toString('base64url');
          revocations(body).page = `${input}.${signature}`;
        }),
      }).round();
      expect(verdict).toMatchObject({
        ok: false,
        failure: { reason: 'page_unverified', detail: expect.stringContaining('not a CA') },
      });
      expectNothingApplied();
    });

    it('a server time replayed from an earlier answer', async () => {
      await prepare();
      let earlier: unknown;
      await client({
        fetch: rewriting((body) => {
          earlier = body['serverTime'];
          body['serverTime'] = 'x.y.z';
        }),
      }).round();
      const verdict = await client({
        fetch: rewriting((body) => {
          body['serverTime'] = earlier;
        }),
      }).round();
      expect(verdict).toMatchObject({
        ok: false,
        failure: {
          reason: 'server_time_invalid',
          detail: 'the server time answers another request',
        },
      });
      expectNothingApplied();
    });
  });

  it('backs off with growing, jittered delays and gives up after the limit', async () => {
    agent.fill(1);
    const delays: number[] = [];
    const randoms = [0, 1, 0.5, 0.25, 0.75];
    const outcome = await client({
      fetch: async () => {
        throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') });
      },
      backoff: { baseMs: 100, maxMs: 10_000 },
      random: () => randoms.shift() ?? 0,
      sleep: async (ms) => {
        delays.push(ms);
      },
    }).run({ maxConsecutiveFailures: 5 });
    expect(outcome).toMatchObject({
      completed: false,
      failures: 5,
      lastFailure: { reason: 'unreachable', detail: expect.stringContaining('ECONNREFUSED') },
      pending: 1,
    });
    // Bounds 100, 200, 400, 800: each delay lies in [bound/2, bound], at the drawn point.
    expect(delays).toEqual([50, 200, 300, 500]);
  });

  it('re-proves with the CA clock when the device clock is off, without trusting it', async () => {
    agent.close();
    const ahead = manualClock(ca.clock.now() + 10 * 60_000);
    agent = await reopen(agent.dataDir, ahead);
    agent.fill(2);
    let refusals = 0;
    const outcome = await client({
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (response.status === 401) refusals += 1;
        return response;
      },
    }).run();
    expect(outcome).toMatchObject({ completed: true, acked: 2, failures: 0 });
    expect(refusals).toBe(1);
    // The mark follows the device clock that is ahead; the signed time never moves it back.
    expect(agent.trustedTime.trustedNow()).toBe(ahead.now());
  });

  it('says when the CA refuses the device, with its code', async () => {
    const verdict = await client({
      fetch: async () =>
        new Response(JSON.stringify({ code: 'device_proof_invalid', message: 'no' }), {
          status: 401,
        }),
    }).round();
    expect(verdict).toMatchObject({
      ok: false,
      failure: {
        reason: 'ca_refused',
        status: 401,
        caCode: 'device_proof_invalid',
        retryable: false,
      },
    });
  });
});
