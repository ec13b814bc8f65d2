/**
 * `npm run bench [-- --quick] [-- --only NAME[,NAME]] [-- --list]`
 *
 * Runs every benchmark of scripts/bench/ in one process (servers and heap probes in child
 * processes), each measured against its baseline in the same run, and prints one table plus the
 * machine it ran on. Writes bench/results.json. `--quick` is for CI: tiny inputs, a moment per
 * figure, so it proves the benchmarks run, not how fast. A missed target is reported as missed;
 * the exit code is non-zero only when a benchmark fails to run (or, with `--strict`, when a
 * target is missed). See bench/NOTES.md for method and findings.
 *
 * Adding a benchmark: one file in scripts/bench/ exporting a `Benchmark`, listed in BENCHMARKS.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { accessTokenVerify } from './bench/access-token-verify.js';
import { coldStart } from './bench/cold-start.js';
import type { BenchResult, Benchmark } from './bench/harness.js';
import { ROOT, formatNumber, formatRatio, machineInfo, table } from './bench/harness.js';
import { httpLatency } from './bench/http-latency.js';
import { issuance, issuancePostgres } from './bench/issuance.js';
import { offlineSignin } from './bench/offline-signin.js';
import { relay } from './bench/relay.js';
import { revocation } from './bench/revocation.js';
import { sessionTokenVerify } from './bench/session-token-verify.js';
import { traceSpans } from './bench/trace-spans.js';
import { sync, syncPostgres } from './bench/sync.js';

const BENCHMARKS: readonly Benchmark[] = [
  issuance,
  issuancePostgres,
  accessTokenVerify,
  sessionTokenVerify,
  offlineSignin,
  coldStart,
  revocation,
  httpLatency,
  sync,
  syncPostgres,
  relay,
  traceSpans,
];

interface Arguments {
  quick: boolean;
  only: string[] | null;
  list: boolean;
  strict: boolean;
}

function parseArguments(argv: readonly string[]): Arguments {
  const parsed: Arguments = { quick: false, only: null, list: false, strict: false };
  for (let i = 0; i < argv.length; i++) {
    const argument = argv[i] as string;
    if (argument === '--quick') parsed.quick = true;
    else if (argument === '--list') parsed.list = true;
    else if (argument === '--strict') parsed.strict = true;
    else if (argument === '--only' || argument.startsWith('--only=')) {
      const value = argument === '--only' ? argv[++i] : argument.slice('--only='.length);
      if (!value) throw new Error('--only takes a benchmark name (see --list)');
      parsed.only = [...(parsed.only ?? []), ...value.split(',').map((name) => name.trim())];
    } else throw new Error(`unknown argument ${argument} (use --quick, --only NAME, --list)`);
  }
  return parsed;
}

const log = (message: string) => process.stderr.write(`  ${message}\n`);

async function main(): Promise<number> {
  const args = parseArguments(process.argv.slice(2));
  if (args.list) {
    for (const benchmark of BENCHMARKS)
      console.log(`${benchmark.name.padEnd(16)} ${benchmark.title}`);
    return 0;
  }
  const unknown = (args.only ?? []).filter((name) => !BENCHMARKS.some((b) => b.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`,
    );
  }
  const selected = BENCHMARKS.filter((b) => args.only === null || args.only.includes(b.name));
  const machine = machineInfo(args.quick);
  const started = performance.now();
  const results: BenchResult[] = [];
  const failures: string[] = [];

  for (const benchmark of selected) {
    process.stderr.write(
      `» ${benchmark.name}: ${benchmark.title}${args.quick ? ' (quick)' : ''}\n`,
    );
    const benchStart = performance.now();
    try {
      results.push(...(await benchmark.run({ quick: args.quick, log })));
    } catch (error) {
      failures.push(benchmark.name);
      process.stderr.write(
        `  FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      results.push({
        name: `${benchmark.title} (FAILED)`,
        ours: null,
        baseline: null,
        ratio: null,
        target: '—',
        met: false,
        unit: '',
        details: { error: error instanceof Error ? error.message : String(error) },
      });
    }
    log(`done in ${((performance.now() - benchStart) / 1000).toFixed(1)} s`);
  }

  machine.loadAverageEnd = loadavg().map((value) => Math.round(value * 100) / 100);
  machine.finishedAt = new Date().toISOString();
  machine.durationSeconds = Math.round((performance.now() - started) / 100) / 10;

  const rows = [
    ['figure', 'ours', 'baseline', 'ratio', 'target', 'met'],
    ...results.map((result) => [
      result.name,
      formatNumber(result.ours, result.unit),
      formatNumber(result.baseline, result.unit),
      formatRatio(result.ratio),
      result.target,
      result.met === null ? (result.ours === null ? 'pending' : '—') : result.met ? 'yes' : 'NO',
    ]),
  ];
  console.log('');
  console.log(table(rows));
  console.log('');
  console.log(
    `node ${machine.node} · ${machine.cpuModel} · ${machine.cores} cores · load ${machine.loadAverageStart.join(' ')} → ${machine.loadAverageEnd.join(' ')} · ${machine.durationSeconds} s${args.quick ? ' · QUICK (speeds not meaningful)' : ''}`,
  );
  const missed = results.filter((result) => result.met === false);
  if (missed.length > 0) console.log(`missed: ${missed.map((result) => result.name).join('; ')}`);

  const outDir = join(ROOT, 'bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'results.json'), `${JSON.stringify({ results, machine }, null, 2)}\n`);
  console.log(`wrote bench/results.json`);

  if (failures.length > 0) {
    console.error(`benchmarks that failed to run: ${failures.join(', ')}`);
    return 1;
  }
  return args.strict && missed.length > 0 ? 2 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
