/**
 * Figure 5: latency of the CA's login, refresh and JWKS endpoints under load (autocannon, 20
 * connections, keep-alive, closed loop) against a real CA in its own process on 127.0.0.1
 * (ca-server.ts), and the KDF cost of one password hash alongside. The baseline for every
 * route is `GET /health/live` on the same server in the same run: the floor of HTTP + Fastify
 * on this machine.
 *
 * - login, open loop (the SLO row): the KDF capacity is measured first in this process
 *   (`hasher.verify`/s with the admission default in flight), then logins arrive at a fixed
 *   rate of half that, whatever the answers, latency counted from each one's due time.
 * - login, closed loop (context, no target): `POST /v1/auth/login` with the right password;
 *   the default Argon2id (m=19 MiB, t=2, p=1) runs on libuv's thread pool, then two events are
 *   appended and an access token is signed. Logins beyond the CA's KDF admission bound are
 *   answered 429 `login_overloaded`: the p95 is of the accepted logins and the share shed is
 *   its own row.
 * - KDF: one Argon2id hash against one scrypt at OWASP's setting (N=2^17, r=8, p=1).
 * - refresh: `POST /v1/auth/refresh`; refresh tokens rotate (each works once), so every
 *   response's new token goes back into a shared pool that the next request takes from.
 * - jwks: `GET /.well-known/jwks.json`.
 *
 * Each route and the baseline run in turn, `runs` times, rotating the order; percentiles are
 * computed from every 2xx latency of a run (autocannon's histogram has no p95); medians over
 * runs are reported. Warm-up runs are not counted.
 */
import { createPasswordHasher } from '@lantern/ca-service';
import { scrypt } from 'node:crypto';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { CaServerInfo } from './ca-server.js';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { contextRow, median, percentile, startChild, valueBelow } from './harness.js';

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
  onResponse?: (status: number, body: string) => void;
}

interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  requests?: AutocannonRequest[];
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}

interface AutocannonInstance {
  on(
    event: 'response',
    listener: (client: unknown, status: number, bytes: number, ms: number) => void,
  ): void;
}

type Autocannon = (
  options: AutocannonOptions,
  done: (error: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export const CONNECTIONS = 20;

/** OWASP's scrypt setting, the alternative Argon2id was measured against (128 MiB). */
const SCRYPT_OWASP = { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 2 ** 17 * 8 };

function scryptOwasp(password: string): Promise<void> {
  return new Promise((resolve, reject) =>
    scrypt(password, 'sixteen byte salt', 32, SCRYPT_OWASP, (error) =>
      error ? reject(error) : resolve(),
    ),
  );
}

async function timedMs(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/**
 * Password checks per second the machine sustains: `hasher.verify` with as many in flight as
 * the CA's admission control lets run at once (its default: the cores, at most libuv's pool).
 */
async function kdfCapacity(verify: () => Promise<unknown>, seconds: number): Promise<number> {
  const lanes = Math.min(availableParallelism(), Number(process.env['UV_THREADPOOL_SIZE']) || 4);
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (performance.now() < end) {
        await verify();
        done += 1;
      }
    }),
  );
  return (done * 1000) / (performance.now() - start);
}

interface OpenLoopStats {
  latencies: number[];
  rate: number;
  sent: number;
  p50: number;
  p95: number;
  p99: number;
  ok: number;
  shed: number;
  failed: number;
}

/**
 * Open loop: one login every 1/rate s whatever the answers, for `seconds`. Latency counts from
 * the moment a request was due, not when it left, so a stalled client cannot hide queueing
 * (coordinated omission).
 */
async function openLoop(
  url: string,
  body: string,
  rate: number,
  seconds: number,
): Promise<OpenLoopStats> {
  const latencies: number[] = [];
  let shed = 0;
  let failed = 0;
  const inFlight: Promise<void>[] = [];
  const count = Math.max(1, Math.round(rate * seconds));
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(
      fetch(`${url}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      }).then(
        async (response) => {
          await response.arrayBuffer();
          if (response.ok) latencies.push(performance.now() - due);
          else if (response.status === 429) shed += 1;
          else failed += 1;
        },
        () => {
          failed += 1;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  return {
    latencies,
    rate,
    sent: count,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    ok: latencies.length,
    shed,
    failed,
  };
}

interface RunStats {
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  ok: number;
  /** Answered 429: shed by the CA's admission control (login), not failures. */
  shed: number;
  /** Every other non-2xx, error and timeout. */
  failed: number;
}

function load(options: AutocannonOptions): Promise<RunStats> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    let shed = 0;
    const instance = autocannon(options, (error, result) => {
      if (error) return reject(error);
      const failed = result.non2xx - shed + result.errors + result.timeouts;
      resolve({
        rps: result['2xx'] / result.duration,
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        ok: result['2xx'],
        shed,
        failed,
      });
    });
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
      else if (status === 429) shed += 1;
    });
  });
}

interface Scenario {
  name: string;
  /** Seconds per measured run. */
  seconds: number;
  prepare?(): Promise<void>;
  options(): Omit<AutocannonOptions, 'duration' | 'connections' | 'url'>;
}

/** Waits out a 429 (the logins a finished load run left queued on the CA) as a client would. */
async function post(url: string, body: unknown, attempts = 30): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status === 429 && attempts > 1) {
    await response.body?.cancel();
    const seconds = Number(response.headers.get('retry-after') ?? 1);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    return post(url, body, attempts - 1);
  }
  if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

export const httpLatency: Benchmark = {
  name: 'http',
  title: 'Login / refresh / JWKS latency at concurrency 20 (autocannon, real CA on 127.0.0.1)',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const hasher = createPasswordHasher();
    const secret = 'correct horse battery staple';
    const stored = await hasher.hash(secret);
    const kdfSamples: number[] = [];
    const scryptSamples: number[] = [];
    for (let i = 0; i < (context.quick ? 2 : 7); i++) {
      kdfSamples.push(await timedMs(() => hasher.hash(secret)));
      // 128 MiB and ~10 times Argon2id's time: a few samples are enough to compare.
      if (i < 4) scryptSamples.push(await timedMs(() => scryptOwasp(secret)));
    }
    const kdfMs = median(kdfSamples.slice(1));
    const scryptMs = median(scryptSamples.slice(1));
    const capacity = await kdfCapacity(
      () => hasher.verify(secret, stored),
      context.quick ? 0.5 : 3,
    );
    context.log(
      `KDF: Argon2id ${kdfMs.toFixed(1)} ms, scrypt (OWASP) ${scryptMs.toFixed(1)} ms; capacity ${capacity.toFixed(1)} verifies/s`,
    );

    const server = await startChild<CaServerInfo>('./ca-server.ts', { enrollmentTokens: 0 });
    try {
      const { url } = server.ready;
      const credentials = JSON.stringify({
        tenant: server.ready.tenantId,
        username: server.ready.username,
        password: server.ready.password,
      });
      const refreshTokens: string[] = [];
      let refreshFailures = 0;
      const topUpRefreshTokens = async () => {
        const missing = Math.max(0, CONNECTIONS + (context.quick ? 2 : 10) - refreshTokens.length);
        // One at a time: a burst of logins would be shed by the CA's KDF admission control.
        const logins: Record<string, unknown>[] = [];
        for (let i = 0; i < missing; i++) {
          logins.push(await post(`${url}/v1/auth/login`, JSON.parse(credentials)));
        }
        for (const login of logins) refreshTokens.push(String(login['refreshToken']));
      };
      const json = { 'content-type': 'application/json' };
      const scenarios: Scenario[] = [
        {
          name: 'health',
          seconds: 3,
          options: () => ({ method: 'GET', requests: [{ method: 'GET', path: '/health/live' }] }),
        },
        {
          name: 'login',
          seconds: 5,
          options: () => ({
            requests: [
              { method: 'POST', path: '/v1/auth/login', headers: json, body: credentials },
            ],
          }),
        },
        {
          name: 'refresh',
          seconds: 3,
          prepare: topUpRefreshTokens,
          options: () => ({
            requests: [
              {
                method: 'POST',
                path: '/v1/auth/refresh',
                headers: json,
                setupRequest: (request) => ({
                  ...request,
                  body: JSON.stringify({ refreshToken: refreshTokens.shift() ?? 'pool-empty' }),
                }),
                onResponse: (status, body) => {
                  if (status === 200) {
                    refreshTokens.push((JSON.parse(body) as { refreshToken: string }).refreshToken);
                  } else refreshFailures += 1;
                },
              },
            ],
          }),
        },
        {
          name: 'jwks',
          seconds: 3,
          options: () => ({ requests: [{ method: 'GET', path: '/.well-known/jwks.json' }] }),
        },
      ];

      const runs = context.quick ? 1 : 3;
      const measure = async (scenario: Scenario, seconds: number, warmup = false) => {
        await scenario.prepare?.();
        const stats = await load({
          url,
          connections: CONNECTIONS,
          duration: seconds,
          ...scenario.options(),
        });
        // A warm-up (or a quick CI run on a busy machine) may end before the first slow login
        // answers; a measured full run may not.
        const mayBeEmpty = warmup || context.quick;
        const shedAllowed = scenario.name === 'login' ? 0 : stats.shed;
        if ((!mayBeEmpty && stats.ok === 0) || stats.failed + shedAllowed > stats.ok * 0.01) {
          throw new Error(
            `${scenario.name}: ${stats.failed} failed and ${stats.shed} shed (429) requests of ${stats.ok + stats.failed + stats.shed} (refresh refusals ${refreshFailures})`,
          );
        }
        return stats;
      };
      // Warm-up (JIT, connection pools, SQLite page cache); CI's quick mode skips it.
      if (!context.quick) for (const scenario of scenarios) await measure(scenario, 1.5, true);
      const samples = new Map<string, RunStats[]>(scenarios.map((s) => [s.name, []]));
      for (let run = 0; run < runs; run++) {
        for (let i = 0; i < scenarios.length; i++) {
          const scenario = scenarios[(i + run) % scenarios.length] as Scenario;
          const stats = await measure(
            scenario,
            context.quick ? (scenario.name === 'login' ? 1 : 0.4) : scenario.seconds,
          );
          samples.get(scenario.name)?.push(stats);
          context.log(
            `${scenario.name.padEnd(7)} run ${run + 1}: ${stats.rps.toFixed(0)} rps, p50 ${stats.p50.toFixed(1)} ms, p95 ${stats.p95.toFixed(1)} ms, p99 ${stats.p99.toFixed(1)} ms${stats.shed > 0 ? `, ${stats.shed} shed (429) of ${stats.ok + stats.shed}` : ''}`,
          );
        }
      }
      // Open loop at half the KDF capacity measured above, alone on the server.
      const openRate = capacity / 2;
      const openRuns: OpenLoopStats[] = [];
      for (let run = 0; run < (context.quick ? 1 : 3); run++) {
        const stats = await openLoop(url, credentials, openRate, context.quick ? 1 : 6);
        if (stats.failed > 0 || (!context.quick && stats.ok === 0)) {
          throw new Error(`open-loop login: ${stats.failed} failed of ${stats.sent}`);
        }
        openRuns.push(stats);
        context.log(
          `login open loop run ${run + 1}: ${openRate.toFixed(1)}/s, p50 ${stats.p50.toFixed(1)} ms, p95 ${stats.p95.toFixed(1)} ms, p99 ${stats.p99.toFixed(1)} ms, ${stats.shed} shed of ${stats.sent}`,
        );
      }
      // Pooled: a run at a few logins per second has too few answers for a p95 of its own.
      const pooled = openRuns.flatMap((s) => s.latencies);
      const open = {
        rate: openRate,
        kdfCapacityPerSecond: capacity,
        p50: percentile(pooled, 50),
        p95: percentile(pooled, 95),
        p99: percentile(pooled, 99),
        runP95s: openRuns.map((s) => s.p95),
        sent: openRuns.reduce((sum, s) => sum + s.sent, 0),
        shed: openRuns.reduce((sum, s) => sum + s.shed, 0),
      };
      const summary = (name: string) => {
        const list = samples.get(name) ?? [];
        return {
          rps: median(list.map((s) => s.rps)),
          p50: median(list.map((s) => s.p50)),
          p95: median(list.map((s) => s.p95)),
          p99: median(list.map((s) => s.p99)),
          requests: list.reduce((sum, s) => sum + s.ok, 0),
          shed: list.reduce((sum, s) => sum + s.shed, 0),
        };
      };
      const health = summary('health');
      const login = summary('login');
      const refresh = summary('refresh');
      const jwks = summary('jwks');
      const baseline = {
        baseline: `GET /health/live p95 on the same server, ${CONNECTIONS} connections`,
        healthRps: health.rps,
      };
      return [
        valueBelow(
          `Login p95, open loop at half the KDF capacity (${open.rate.toFixed(1)}/s)`,
          'ms',
          open.p95,
          health.p95,
          { label: 'p95', max: 100 },
          {
            ...open,
            kdf: hasher.params,
            kdfHashMs: kdfMs,
            ...baseline,
            note: 'fixed arrival rate = half of hasher.verify/s measured in this run with the CA admission default in flight; latency from each request due time; p95 of the 2xx',
          },
        ),
        // Context, as issue 22 asks: 20 clients that resend at once overload the KDF by design
        // (most are shed); the SLO is the open-loop row above.
        contextRow(
          `Login p95 @ c=${CONNECTIONS}, closed loop (default KDF)`,
          'ms',
          login.p95,
          health.p95,
          {
            ...login,
            kdfHashMs: kdfMs,
            kdf: hasher.params,
            ...baseline,
            note: 'p95 of the accepted (2xx) logins; the CA sheds logins beyond its KDF admission bound with 429 login_overloaded, counted in the next row',
          },
        ),
        {
          name: `… login requests shed with 429 (KDF admission control)`,
          ours: (100 * login.shed) / (login.shed + login.requests),
          baseline: null,
          ratio: null,
          target: '(context)',
          met: null,
          unit: '%',
          details: { shed: login.shed, accepted: login.requests },
        },
        valueBelow(
          `Refresh p95 @ c=${CONNECTIONS}`,
          'ms',
          refresh.p95,
          health.p95,
          { label: 'p95', max: 30 },
          {
            ...refresh,
            ...baseline,
          },
        ),
        valueBelow(
          `JWKS p95 @ c=${CONNECTIONS}`,
          'ms',
          jwks.p95,
          health.p95,
          { label: 'p95', max: 10 },
          {
            ...jwks,
            ...baseline,
          },
        ),
        contextRow(
          'Login KDF: one Argon2id hash (m=19 MiB, t=2) vs scrypt (N=2^17, r=8), OWASP',
          'ms',
          kdfMs,
          scryptMs,
          {
            params: hasher.params,
            scrypt: { N: SCRYPT_OWASP.N, r: SCRYPT_OWASP.r, p: SCRYPT_OWASP.p },
            samplesMs: kdfSamples,
            scryptSamplesMs: scryptSamples,
            kdfCapacityPerSecond: capacity,
            loginRps: login.rps,
          },
        ),
      ];
    } finally {
      await server.stop();
    }
  },
};
