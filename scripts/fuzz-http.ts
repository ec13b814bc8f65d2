/**
 * `npm run fuzz`: starts a real CA (HTTP on 127.0.0.1, SQLite in a temp dir), fires generated
 * requests at every route over real sockets and counts the answers per status class. Any 5xx
 * fails the run (docs/architecture.md §9.5): the requests that got one are printed so they can be replayed.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp, initDataDir, openCa } from '@lantern/ca-service';
import { createLogger, systemClock } from '@lantern/shared';
import fc from 'fast-check';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { FuzzRequest, FuzzTargets } from '../test/fuzz/fuzz-requests.js';
import { fuzzRequest, proofHeaders, routesOf } from '../test/fuzz/fuzz-requests.js';
import { prepareFuzzTargets } from '../test/fuzz/fuzz-targets.js';

const USAGE = `Usage: npm run fuzz -- [--requests N] [--seed S] [--concurrency C] [--json]

Fires N generated requests (default 10000) at a throwaway CA over real HTTP: every route of its
OpenAPI document, damaged and arbitrary JSON bodies, truncated and oversized bodies, wrong
content types, good and bad credentials, device proofs, over-long headers. Prints the count per
status class; exits 1 if any answer is a 5xx or the server stops answering.

  --requests N     how many requests (default 10000)
  --seed S         generator seed (default: random, printed; the same seed replays the run)
  --concurrency C  requests in flight (default 8)
  --json           print one JSON object with the counts instead of text
  --help           this text`;

const BATCH = 100;
const HUGE_HEADER_EVERY = 97;

interface Outcome {
  status: number | 'network_error' | 'unsendable';
  request: FuzzRequest;
  detail: string;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '10000' },
      seed: { type: 'string' },
      concurrency: { type: 'string', default: '8' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const requests = Number(values.requests);
  const seed =
    values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  const concurrency = Number(values.concurrency);
  if (
    !Number.isSafeInteger(requests) ||
    requests < 1 ||
    !Number.isSafeInteger(seed) ||
    !Number.isSafeInteger(concurrency) ||
    concurrency < 1
  ) {
    throw new Error('--requests, --seed and --concurrency take positive integers');
  }
  return { requests, seed, concurrency, json: values.json, help: values.help };
}

async function startCa(): Promise<{
  app: FastifyInstance;
  adminKey: string;
  url: string;
  stop(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-fuzz-ca-'));
  // Logs go nowhere: thousands of refusals would bury the report, and their cost still counts.
  const logger = createLogger({
    service: 'lantern-ca-fuzz',
    salt: 'fuzz',
    level: 'info',
    destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
  });
  const passphrase = 'fuzz-passphrase-not-secret';
  const init = await initDataDir({
    dataDir: dir,
    clock: systemClock,
    publicUrl: 'http://ca.test',
    passphrase,
    root: 'dev-in-data-dir',
    logger,
  });
  const ca = await openCa({ dataDir: dir, clock: systemClock, passphrase, logger });
  // Limits raised so that requests reach the handlers instead of stopping at the limiter
  // (the limiter's own 429 is covered by test/security/limits.test.ts).
  const app = await buildApp({
    context: ca.context,
    enrollRateLimitPerMinute: 1e9,
    loginRateLimitPerMinute: 1e9,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    adminKey: init.adminApiKey,
    url,
    async stop() {
      await app.close();
      await ca.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function send(
  base: URL,
  request: FuzzRequest,
  targets: FuzzTargets,
  index: number,
  freshSocket: boolean,
): Promise<Outcome> {
  const headers: Record<string, string> = proofHeaders(
    request,
    targets.device,
    Math.floor(Date.now() / 1000),
  );
  // Over Node's 16 KiB header limit: the server answers 431 and drops the connection, so
  // this request gets a socket of its own rather than one a queued request is waiting for.
  const hugeHeader = index % HUGE_HEADER_EVERY === 0;
  if (hugeHeader) headers['x-padding'] = 'a'.repeat(20_000);
  if (request.body !== undefined)
    headers['content-length'] = String(Buffer.byteLength(request.body));
  return new Promise((resolve) => {
    let outgoing: ReturnType<typeof httpRequest>;
    try {
      outgoing = httpRequest(
        {
          host: base.hostname,
          port: base.port,
          method: request.method,
          path: request.url,
          headers,
          ...(hugeHeader || freshSocket ? { agent: false } : {}),
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              request,
              detail: Buffer.concat(chunks).toString('utf8').slice(0, 300),
            }),
          );
          response.on('error', (error) =>
            resolve({ status: response.statusCode ?? 0, request, detail: error.message }),
          );
        },
      );
    } catch (error) {
      // Node's client refuses to put some generated bytes on the wire (e.g. a raw space in a path).
      resolve({ status: 'unsendable', request, detail: (error as Error).message });
      return;
    }
    outgoing.setTimeout(60_000, () => outgoing.destroy(new Error('no answer within 60 s')));
    outgoing.on('error', (error) =>
      resolve({ status: 'network_error', request, detail: error.message }),
    );
    outgoing.end(request.body);
  });
}

function classOf(status: Outcome['status']): string {
  return typeof status === 'string' ? status : `${String(status).slice(0, 1)}xx`;
}

async function main(): Promise<number> {
  const options = parseOptions();
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const progress = (line: string) => {
    if (!options.json) process.stderr.write(`${line}\n`);
  };
  const ca = await startCa();
  try {
    const targets = await prepareFuzzTargets(ca.app, ca.adminKey);
    const routes = routesOf((await ca.app.inject({ method: 'GET', url: '/openapi.json' })).json());
    progress(
      `fuzzing ${ca.url}: ${options.requests} requests over ${routes.length} routes, seed ${options.seed}`,
    );
    const base = new URL(ca.url);
    const arbitrary = fuzzRequest(routes, targets);
    const byClass: Record<string, number> = {};
    const byStatus: Record<string, number> = {};
    const serverErrors: { status: number; label: string; url: string; body: string }[] = [];
    const networkErrors: Record<string, number> = {};
    const dropped: string[] = [];
    let retried = 0;
    const started = Date.now();
    let sent = 0;
    for (let batch = 0; sent < options.requests; batch++) {
      // Generated a batch at a time: oversized bodies would not all fit in memory at once.
      const requests = fc.sample(arbitrary, {
        seed: options.seed + batch,
        numRuns: Math.min(BATCH, options.requests - sent),
      });
      let next = 0;
      const worker = async () => {
        while (next < requests.length) {
          const index = next++;
          const request = requests[index] as FuzzRequest;
          let outcome = await send(base, request, targets, sent + index, false);
          if (outcome.status === 'network_error') {
            // A pooled keep-alive socket the server had just closed (after a 413 or 431) fails
            // before the request reaches it; once more on a new socket tells that from a drop.
            retried += 1;
            outcome = await send(base, request, targets, sent + index, true);
          }
          const kind = classOf(outcome.status);
          byClass[kind] = (byClass[kind] ?? 0) + 1;
          byStatus[String(outcome.status)] = (byStatus[String(outcome.status)] ?? 0) + 1;
          if (typeof outcome.status === 'string') {
            networkErrors[outcome.detail] = (networkErrors[outcome.detail] ?? 0) + 1;
            dropped.push(`${outcome.request.label} ${outcome.request.url.slice(0, 120)}`);
          } else if (outcome.status >= 500) {
            serverErrors.push({
              status: outcome.status,
              label: outcome.request.label,
              url: outcome.request.url,
              body: outcome.detail,
            });
          }
        }
      };
      await Promise.all(Array.from({ length: options.concurrency }, worker));
      const before = sent;
      sent += requests.length;
      if (Math.floor(sent / 1000) > Math.floor(before / 1000) || sent === options.requests) {
        progress(`  ${sent}/${options.requests}  ${JSON.stringify(byClass)}`);
      }
    }
    const health = await fetch(new URL('/health/live', base)).then((response) => response.status);
    const seconds = (Date.now() - started) / 1000;
    const report = {
      requests: sent,
      seed: options.seed,
      seconds: Math.round(seconds * 10) / 10,
      requestsPerSecond: Math.round(sent / seconds),
      byClass,
      byStatus,
      serverErrors: serverErrors.length,
      firstServerErrors: serverErrors.slice(0, 10),
      networkErrors,
      firstNetworkErrors: dropped.slice(0, 10),
      retriedOnFreshSocket: retried,
      aliveAfter: health === 200,
    };
    const failed = serverErrors.length > 0 || !report.aliveAfter;
    if (options.json) {
      console.log(JSON.stringify(report));
    } else {
      console.log(`${sent} requests in ${report.seconds} s (seed ${options.seed})`);
      if (retried > 0)
        console.log(`  retried on a fresh socket after a dropped keep-alive one: ${retried}`);
      for (const [kind, count] of Object.entries(byClass).sort())
        console.log(`  ${kind}: ${count}`);
      console.log(`  statuses: ${JSON.stringify(byStatus)}`);
      if (Object.keys(networkErrors).length > 0) {
        console.log(
          `  network errors (the server closed the socket): ${JSON.stringify(networkErrors)}`,
        );
        for (const line of report.firstNetworkErrors) console.log(`    ${line}`);
      }
      console.log(
        `5xx: ${serverErrors.length}${report.aliveAfter ? '' : ' — and the CA stopped answering'}`,
      );
      for (const error of report.firstServerErrors)
        console.log(`  ${error.status} ${error.label} ${error.url} ${error.body}`);
    }
    return failed ? 1 : 0;
  } finally {
    await ca.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
