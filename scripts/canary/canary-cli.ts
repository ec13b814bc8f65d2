import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Counter, Gauge, Registry } from 'prom-client';
import { normalizeFingerprint } from '@lantern/agent';
import type { CanaryTarget, ProbeResult } from './probes.js';
import { PROBES, probeOnce } from './probes.js';

export const PASSWORD_ENV = 'LANTERN_CANARY_PASSWORD';

export const USAGE = `usage: npm run canary -- --url URL --tenant T --user U [options]

Probes a Lantern CA like the spec's synthetic monitor (every 60 s): /health/live,
/health/ready, /.well-known/jwks.json (200, JSON, at least one key that imports), the
signed key set /v1/ca/jwks.jws against the pinned root (with --root-fingerprint), a
login round trip with the canary account (POST /v1/auth/login, the access token verified
against the key set, then /v1/auth/logout), and with --sso-issuer the tenant's OpenID
Connect provider (its discovery document and key set) and the CA's SSO start redirect to it.

The canary account's password comes from the ${PASSWORD_ENV} environment variable
or --password-file, never from the command line; it is never printed.

  --url URL                 the CA's base URL (required)
  --tenant T                the canary account's tenant id or slug (required)
  --user U                  the canary account's username (required)
  --password-file PATH      read the password from this file (first line)
  --root-fingerprint HEX    SHA-256 of the root as \`lantern-ca init\` printed it
  --sso-issuer URL          the tenant's OpenID Connect issuer, exactly as configured
  --interval SECONDS        between rounds (default 60)
  --timeout MS              per request (default 5000)
  --once                    one round, then exit: 0 when every probe passed, 1 otherwise
  --metrics-port PORT       serve the canary's own /metrics (Prometheus) on this port
  --metrics-host HOST       where (default 127.0.0.1)
  --json                    one JSON object per round on stdout instead of text lines
  --help                    this text

Exit codes: 0 ok, 1 a probe failed (--once), 2 usage error.`;

export interface CanaryIo {
  stdout(line: string): void;
  stderr(line: string): void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the canary should stop (SIGINT/SIGTERM for the script). */
  stopped?: Promise<void>;
  /** Epoch ms (injectable for tests). */
  now?: () => number;
}

class UsageError extends Error {}

interface CanaryConfig {
  target: CanaryTarget;
  intervalMs: number;
  once: boolean;
  json: boolean;
  metricsPort?: number;
  metricsHost: string;
}

function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): CanaryConfig | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      url: { type: 'string' },
      tenant: { type: 'string' },
      user: { type: 'string' },
      'password-file': { type: 'string' },
      'root-fingerprint': { type: 'string' },
      'sso-issuer': { type: 'string' },
      interval: { type: 'string', default: '60' },
      timeout: { type: 'string', default: '5000' },
      once: { type: 'boolean', default: false },
      'metrics-port': { type: 'string' },
      'metrics-host': { type: 'string', default: '127.0.0.1' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const required = (name: 'url' | 'tenant' | 'user'): string => {
    const value = values[name];
    if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
    return value;
  };
  const url = required('url');
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError('--url must be an http(s) URL');
  const number = (name: string, value: string | undefined, min: number, max: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
  let password = env[PASSWORD_ENV];
  const file = values['password-file'];
  if (file !== undefined) {
    try {
      password = readFileSync(file, 'utf8').split(/\r?\n/)[0];
    } catch (error) {
      throw new UsageError(
        `--password-file: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
      );
    }
  }
  if (!password) {
    throw new UsageError(`set ${PASSWORD_ENV} or --password-file to the canary account's password`);
  }
  const fingerprint = values['root-fingerprint'];
  if (fingerprint !== undefined && normalizeFingerprint(fingerprint) === null) {
    throw new UsageError('--root-fingerprint must be 64 hex digits (colons allowed)');
  }
  const ssoIssuer = values['sso-issuer'];
  if (ssoIssuer !== undefined && !/^https?:\/\/[^/]/.test(ssoIssuer)) {
    throw new UsageError('--sso-issuer must be an http(s) URL');
  }
  const metricsPort = values['metrics-port'];
  return {
    target: {
      url: url.endsWith('/') ? url : `${url}/`,
      tenant: required('tenant'),
      user: required('user'),
      password,
      ...(fingerprint === undefined ? {} : { rootFingerprint: fingerprint }),
      ...(ssoIssuer === undefined ? {} : { ssoIssuer }),
      timeoutMs: number('timeout', values.timeout, 100, 120_000),
    },
    intervalMs: number('interval', values.interval, 1, 86_400) * 1000,
    once: values.once,
    json: values.json,
    ...(metricsPort === undefined
      ? {}
      : { metricsPort: number('metrics-port', metricsPort, 0, 65_535) }),
    metricsHost: values['metrics-host'],
  };
}

/**
 * The canary's own results as Prometheus metrics: the last round's verdict and duration per
 * probe (`probe` is one of six names, the only label besides `result`), and a counter of
 * rounds by result, so a failure between two scrapes is not lost.
 */
class CanaryMetrics {
  readonly registry = new Registry();
  private readonly success = new Gauge({
    name: 'lantern_canary_probe_success',
    help: '1 when the probe passed in the last round, 0 when it failed',
    labelNames: ['probe'],
    registers: [this.registry],
  });
  private readonly duration = new Gauge({
    name: 'lantern_canary_probe_duration_seconds',
    help: 'How long the probe took in the last round',
    labelNames: ['probe'],
    registers: [this.registry],
  });
  private readonly runs = new Counter({
    name: 'lantern_canary_probes_total',
    help: 'Probe runs by result (success, failure)',
    labelNames: ['probe', 'result'],
    registers: [this.registry],
  });
  private readonly lastRound = new Gauge({
    name: 'lantern_canary_last_round_timestamp_seconds',
    help: 'When the last round ended',
    registers: [this.registry],
  });

  constructor() {
    for (const probe of PROBES) {
      for (const result of ['success', 'failure']) this.runs.inc({ probe, result }, 0);
    }
  }

  record(results: readonly ProbeResult[], now: number): void {
    for (const result of results) {
      if (result.skipped) continue;
      this.success.set({ probe: result.probe }, result.ok ? 1 : 0);
      this.duration.set({ probe: result.probe }, result.ms / 1000);
      this.runs.inc({ probe: result.probe, result: result.ok ? 'success' : 'failure' });
    }
    this.lastRound.set(now / 1000);
  }
}

function humanLines(url: string, at: string, results: readonly ProbeResult[]): string[] {
  const failed = results.filter((result) => !result.ok).length;
  return [
    `${at} ${url} ${failed === 0 ? 'OK' : `FAILED (${failed} of ${results.length})`}`,
    ...results.map((result) => {
      const verdict = result.skipped ? 'skip' : result.ok ? 'ok' : 'FAIL';
      const reason = result.reason === undefined ? '' : `  ${result.reason}`;
      return `  ${verdict.padEnd(4)} ${result.probe.padEnd(11)} ${String(result.ms).padStart(6)} ms${reason}`;
    }),
  ];
}

async function serveMetrics(metrics: CanaryMetrics, host: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    void metrics.registry.metrics().then((text) => {
      response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}

/** `npm run canary`: returns the exit code (see `USAGE`). */
export async function runCanaryCli(argv: readonly string[], io: CanaryIo): Promise<number> {
  let config: CanaryConfig | 'help';
  try {
    config = parseConfig(argv, io.env);
  } catch (error) {
    const known =
      error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    if (!known) throw error;
    io.stderr(`canary: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (config === 'help') {
    io.stdout(USAGE);
    return 0;
  }
  const now = io.now ?? Date.now;
  const metrics = new CanaryMetrics();
  const server =
    config.metricsPort === undefined
      ? undefined
      : await serveMetrics(metrics, config.metricsHost, config.metricsPort);
  if (server) {
    const { port } = server.address() as AddressInfo;
    io.stderr(`canary: metrics on http://${config.metricsHost}:${port}/metrics`);
  }
  let stop = false;
  let wake: (() => void) | undefined;
  void io.stopped?.then(() => {
    stop = true;
    wake?.();
  });
  try {
    for (;;) {
      const results = await probeOnce(config.target);
      const at = new Date(now()).toISOString();
      metrics.record(results, now());
      const ok = results.every((result) => result.ok);
      if (config.json) {
        io.stdout(JSON.stringify({ ts: at, url: config.target.url, ok, probes: results }));
      } else {
        for (const line of humanLines(config.target.url, at, results)) io.stdout(line);
      }
      if (config.once) return ok ? 0 : 1;
      if (stop) return 0;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, config.intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (stop) return 0;
    }
  } finally {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
