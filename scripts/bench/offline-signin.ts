/**
 * Offline sign-in latency on the agent (`signInOffline`, agent/src/signin/offline-signin.ts),
 * with and without its KDF, each against the floor it cannot go below.
 *
 * An in-process CA over real HTTP and one enrolled agent (agent/test/signin-harness.ts); one
 * online sign-in leaves the grant and the password verifier on the device (default scrypt
 * cost, as shipped). Then, one sign-in at a time:
 * - KDF included: `signInOffline` with the password. Baseline: the KDF alone,
 *   `matchesPasswordVerifier` with a verifier of the same cost.
 * - KDF excluded: `signInOfflineWith` and a credential that matches without comparing anything,
 *   so every other step is timed: binding, revocation, clock and grant checks (the grant JWS
 *   verified again), lockout, the final transaction with the session, lockout reset and outbox
 *   event. The clocks move 1 ms before each sign-in, as a real one does, so the trusted-time
 *   anchor is written (in the attempt's one transaction) every time. Baseline: one write transaction of one
 *   ~300-byte row in the same database, the commit any sign-in must pay.
 *   Context, the ceiling: what no sign-in can skip, with nothing around it: the rows a
 *   successful one commits (trusted-time anchor, lockout reset, session, two outbox events and
 *   the outbox counter; copies of a real sign-in's rows) in one transaction, plus the device key's ES256
 *   signature over a real session token's signing input. The ratio cannot fall below it.
 * Sequential calls, medians and p95 of the samples; the contenders rotate in rounds.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { signInOffline, signInOfflineWith } from '../../agent/src/signin/offline-signin.js';
import { signInOnline } from '../../agent/src/signin/online-signin.js';
import { passwordCredential } from '../../agent/src/signin/password-credential.js';
import {
  DEFAULT_SCRYPT_COST,
  derivePasswordVerifier,
  matchesPasswordVerifier,
} from '../../agent/src/signin/password-verifier.js';
import type {
  SigninAgent,
  SigninSuccess,
  SigninVerdict,
} from '../../agent/src/signin/signin-agent.js';
import { PASSWORD, startSigninWorld } from '../../agent/test/signin-harness.js';
import type { MonotonicSource } from '../../agent/src/time/monotonic-source.js';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { median, percentile } from './harness.js';

const USERNAME = 'amina';
/** Timed in every round, the order rotating so none always follows another. */
const FAST = ['withoutKdf', 'transaction', 'ceiling'] as const;

function accepted(verdict: SigninVerdict): SigninSuccess {
  if (!verdict.ok) throw new Error(`offline sign-in refused: ${verdict.code}`);
  return verdict;
}

/**
 * The writes and the signature of a successful offline sign-in, as raw prepared statements:
 * the trusted-time anchor set to the clocks' readings (as `observeWallClock` writes it), the
 * user's lockout row deleted (none here, as in the sign-in's reset), copies of `template`'s
 * session and outbox rows under new ids and the outbox counter, and the device key's signature
 * over the template token's signing input.
 */
function signInWritesAndSignature(
  agent: SigninAgent,
  template: SigninSuccess,
  now: () => number,
  monotonic: MonotonicSource,
): () => void {
  const { db } = agent.store;
  const events = db
    .prepare<[], { eventType: string; envelopeJson: string; createdAt: number }>(
      `SELECT event_type AS eventType, envelope_json AS envelopeJson, created_at AS createdAt
         FROM outbox ORDER BY seq DESC LIMIT 2`,
    )
    .all();
  const anchor = db.prepare<[number, number, string, number]>(
    `UPDATE trusted_time SET mark_ms = max(mark_ms, ?), anchor_wall_ms = ?, source = 'wall_clock',
       anchor_boot_id = ?, anchor_uptime_ms = ? WHERE id = 1`,
  );
  const unlock = db.prepare<[string]>('DELETE FROM lockout WHERE user_id = ?');
  const session = db.prepare<[string, string]>(
    `INSERT INTO sessions (session_id, user_id, grant_id, offline, amr_json, created_at, expires_at)
       SELECT ?, user_id, grant_id, offline, amr_json, created_at, expires_at
         FROM sessions WHERE session_id = ?`,
  );
  const nextSeq = db
    .prepare<[], number>(
      'UPDATE outbox_state SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq',
    )
    .pluck();
  const sequence = () => {
    const seq = nextSeq.get();
    if (seq === undefined) throw new Error('outbox_state row missing');
    return seq;
  };
  const event = db.prepare<[number, string, string, string, number]>(
    'INSERT INTO outbox (seq, event_id, event_type, envelope_json, created_at) VALUES (?, ?, ?, ?, ?)',
  );
  const signingInput = Buffer.from(template.token.slice(0, template.token.lastIndexOf('.')));
  return () => {
    agent.deviceKey.sign(signingInput);
    agent.store.transaction(() => {
      const at = now();
      anchor.run(at, at, monotonic.bootId(), monotonic.uptimeMs());
      unlock.run(template.userId);
      session.run(randomUUID(), template.sessionId);
      for (const row of events) {
        event.run(sequence(), randomUUID(), row.eventType, row.envelopeJson, row.createdAt);
      }
    });
  };
}

async function timed(fn: () => unknown): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

export const offlineSignin: Benchmark = {
  name: 'offline-signin',
  title: 'Offline sign-in latency on the agent, KDF excluded / included, vs its floors',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-signin-'));
    let made = 0;
    const world = await startSigninWorld(() => join(dir, `device-${(made += 1)}`));
    try {
      await world.user(USERNAME);
      const device = await world.device();
      const online = await signInOnline(device.agent, { username: USERNAME, password: PASSWORD });
      if (online.kind !== 'answered' || !online.verdict.ok) {
        throw new Error(`online sign-in failed: ${JSON.stringify(online)}`);
      }
      const { db } = device.opened.store;
      db.exec('CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
      const insert = db.prepare('INSERT INTO bench_floor (body) VALUES (?)');
      const body = 'x'.repeat(300);
      const noKdf = {
        ...passwordCredential(PASSWORD),
        check: () => Promise.resolve('match' as const),
      };
      const verifier = await derivePasswordVerifier(PASSWORD, DEFAULT_SCRYPT_COST);

      // The harness's clocks are manual: standing still, every sign-in after the first would
      // observe the wall clock at its anchor, and the trusted-time write (a changed page on a
      // real clock, docs/architecture.md §4) would change nothing in the attempt's commit.
      const tick = () => world.advance(1);
      tick();
      const template = accepted(
        await signInOfflineWith(device.agent, { username: USERNAME }, noKdf),
      );
      const ceiling = signInWritesAndSignature(
        device.agent,
        template,
        () => world.agentClock.now(),
        world.monotonic,
      );
      const contenders = {
        withKdf: async () => {
          tick();
          accepted(await signInOffline(device.agent, { username: USERNAME, password: PASSWORD }));
        },
        kdfAlone: async () => {
          if (!(await matchesPasswordVerifier(PASSWORD, verifier.key, verifier.paramsJson)))
            throw new Error('the KDF baseline did not match');
        },
        withoutKdf: async () => {
          tick();
          accepted(await signInOfflineWith(device.agent, { username: USERNAME }, noKdf));
        },
        transaction: () => device.opened.store.transaction(() => insert.run(body)),
        ceiling: () => {
          tick();
          ceiling();
        },
      };
      const samples = Object.fromEntries(
        Object.keys(contenders).map((name) => [name, [] as number[]]),
      ) as Record<keyof typeof contenders, number[]>;
      const kdfRounds = context.quick ? 2 : 10;
      const fastRounds = context.quick ? 20 : 400;
      // Warm-up, untimed.
      for (const run of Object.values(contenders)) await run();
      for (let round = 0; round < fastRounds; round++) {
        for (let i = 0; i < FAST.length; i++) {
          const name = FAST[(round + i) % FAST.length];
          if (name !== undefined) samples[name].push(await timed(contenders[name]));
        }
        if (round < kdfRounds) {
          const slow =
            round % 2 === 0
              ? (['withKdf', 'kdfAlone'] as const)
              : (['kdfAlone', 'withKdf'] as const);
          for (const name of slow) samples[name].push(await timed(contenders[name]));
        }
      }
      const summary = (values: number[]) => ({
        p50: median(values),
        p95: percentile(values, 95),
        n: values.length,
      });
      const row = (
        name: string,
        ours: number[],
        baseline: number[],
        what: Record<string, string>,
        maxRatio?: number,
      ): BenchResult => ({
        name,
        ours: median(ours),
        baseline: median(baseline),
        ratio: median(ours) / median(baseline),
        target: maxRatio === undefined ? '(context)' : `ratio <= ${maxRatio.toFixed(2)}`,
        met: maxRatio === undefined ? null : median(ours) / median(baseline) <= maxRatio,
        unit: 'ms',
        details: { ...what, oursMs: summary(ours), baselineMs: summary(baseline) },
      });
      context.log(
        `offline-signin: ${fastRounds} rounds without the KDF, ${kdfRounds} with (scrypt N=${DEFAULT_SCRYPT_COST.N}, r=${DEFAULT_SCRYPT_COST.r}, p=${DEFAULT_SCRYPT_COST.p})`,
      );
      return [
        row(
          'Offline sign-in p50, KDF excluded (agent)',
          samples.withoutKdf,
          samples.transaction,
          {
            ours: 'signInOfflineWith(agent, { username }, credential matching without a KDF)',
            baseline: 'agent store: one write transaction, one 300-byte INSERT',
          },
          // Issue 22: everything but the KDF within three commits' time.
          3,
        ),
        row(
          '… its writes and signature alone (the ceiling)',
          samples.ceiling,
          samples.transaction,
          {
            ours: "a successful sign-in's rows (anchor, lockout reset, session, two outbox events) in one transaction + the device key's ES256 signature",
            baseline: 'agent store: one write transaction, one 300-byte INSERT',
          },
        ),
        row(
          'Offline sign-in p50, KDF included (default scrypt)',
          samples.withKdf,
          samples.kdfAlone,
          {
            ours: 'signInOffline(agent, { username, password })',
            baseline: 'matchesPasswordVerifier alone, same scrypt cost',
          },
        ),
      ];
    } finally {
      await world.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
