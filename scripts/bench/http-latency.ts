/**
 * Figure 5: latency of the CA's login, refresh and JWKS endpoints under load (autocannon, 20
 * connections, keep-alive, closed loop) against a real CA in its own process on 127.0.0.1
 * (ca-server.ts), and the KDF cost of one password hash alongside. The baseline for every
 * route is `GET /health/live` on the same server in the same run: the floor of HTTP + Fastify
 * on this machine.
 *
 * - login: `POST /v1/auth/login` with the right password; the default scrypt (N=2^14, r=8) runs
 *   on libuv's thread pool, then two events are appended and an access token is signed.
 * - refresh: `POST /v1/auth/refresh`; refresh tokens rotate (each works once), so every
 *   response's new token goes back into a shared pool that the next request takes from.
 * - jwks: `GET /.well-known/jwks.json`.
 *
 * Each route and the baseline run in turn, `runs` times, rotating the order; percentiles are
 * computed from every 2xx latency of a run (autocannon's histogram has no p95); medians over
 * runs are reported. Warm-up runs are not counted.
 */
import { createPasswordHasher } from '@lantern/ca-service';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { CaServerInfo } from './ca-server.js';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { median, percentile, startChild, valueBelow } from './harness.js';

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

interface RunStats {
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  ok: number;
  failed: number;
}

function load(options: AutocannonOptions): Promise<RunStats> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    const instance = autocannon(options, (error, result) => {
      if (error) return reject(error);
      const failed = result.non2xx + result.errors + result.timeouts;
      resolve({
        rps: result['2xx'] / result.duration,
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        ok: result['2xx'],
        failed,
      });
    });
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
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

async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

export const httpLatency: Benchmark = {
  name: 'http',
  title: 'Login / refresh / JWKS latency at concurrency 20 (autocannon, real CA on 127.0.0.1)',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const hasher = createPasswordHasher();
    const kdfSamples: number[] = [];
    for (let i = 0; i < (context.quick ? 2 : 7); i++) {
      const start = performance.now();
      await hasher.hash('correct horse battery staple');
      kdfSamples.push(performance.now() - start);
    }
    const kdfMs = median(kdfSamples.slice(1));

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
        const logins = await Promise.all(
          Array.from({ length: missing }, () =>
            post(`${url}/v1/auth/login`, JSON.parse(credentials)),
          ),
        );
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
        if ((!mayBeEmpty && stats.ok === 0) || stats.failed > stats.ok * 0.01) {
          throw new Error(
            `${scenario.name}: ${stats.failed} failed requests of ${stats.ok + stats.failed} (refresh refusals ${refreshFailures})`,
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
            `${scenario.name.padEnd(7)} run ${run + 1}: ${stats.rps.toFixed(0)} rps, p50 ${stats.p50.toFixed(1)} ms, p95 ${stats.p95.toFixed(1)} ms, p99 ${stats.p99.toFixed(1)} ms`,
          );
        }
      }
      const summary = (name: string) => {
        const list = samples.get(name) ?? [];
        return {
          rps: median(list.map((s) => s.rps)),
          p50: median(list.map((s) => s.p50)),
          p95: median(list.map((s) => s.p95)),
          p99: median(list.map((s) => s.p99)),
          requests: list.reduce((sum, s) => sum + s.ok, 0),
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
          `Login p95 @ c=${CONNECTIONS} (default KDF)`,
          'ms',
          login.p95,
          health.p95,
          { label: 'p95', max: 100 },
          {
            ...login,
            kdfHashMs: kdfMs,
            kdf: hasher.params,
            ...baseline,
            note: 'closed loop: with a KDF run per login, p95 ≈ connections × KDF CPU time ÷ cores once the pool is saturated',
          },
        ),
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
        {
          name: 'Login KDF cost (one hasher.hash, scrypt default)',
          ours: kdfMs,
          baseline: null,
          ratio: null,
          target: '(context)',
          met: null,
          unit: 'ms',
          details: { params: hasher.params, samplesMs: kdfSamples, loginRps: login.rps },
        },
      ];
    } finally {
      await server.stop();
    }
  },
};
