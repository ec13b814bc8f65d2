/**
 * The small harness every benchmark in scripts/bench/ shares: what a benchmark is, how a figure
 * is reported, and how throughput and latency are measured (warm-up excluded, ours and the
 * baseline interleaved run by run so that noise from other work on the machine hits both, the
 * median of several runs kept).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { availableParallelism, cpus, freemem, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface BenchContext {
  /** CI mode: tiny inputs, a moment per figure; proves the benchmark runs, not its speed. */
  quick: boolean;
  log(message: string): void;
}

/**
 * One row of the table and of bench/results.json. `ours`, `baseline` and `ratio` are null for a
 * pending figure; `met` is null when a figure has no target (context rows) or is pending.
 */
export interface BenchResult {
  name: string;
  ours: number | null;
  baseline: number | null;
  /** ours / baseline, whatever the unit. */
  ratio: number | null;
  /** Human-readable, e.g. "ratio >= 0.20" or "p95 < 100 ms". */
  target: string;
  met: boolean | null;
  unit: string;
  /** What "ours" and "baseline" are, and any secondary figures (rps, percentiles, sizes). */
  details?: Record<string, unknown>;
}

export interface Benchmark {
  /** What `--only` takes. */
  name: string;
  title: string;
  run(context: BenchContext): Promise<BenchResult[]>;
}

// ---------------------------------------------------------------------------------------------
// Statistics

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

// ---------------------------------------------------------------------------------------------
// Targets

export function ratioAtLeast(
  name: string,
  unit: string,
  ours: number,
  baseline: number,
  min: number,
  details?: Record<string, unknown>,
): BenchResult {
  const ratio = ours / baseline;
  return {
    name,
    ours,
    baseline,
    ratio,
    target: `ratio >= ${min.toFixed(2)}`,
    met: ratio >= min,
    unit,
    ...(details ? { details } : {}),
  };
}

export function ratioAtMost(
  name: string,
  unit: string,
  ours: number,
  baseline: number,
  max: number,
  details?: Record<string, unknown>,
): BenchResult {
  const ratio = ours / baseline;
  return {
    name,
    ours,
    baseline,
    ratio,
    target: `ratio <= ${max.toFixed(2)}`,
    met: ratio <= max,
    unit,
    ...(details ? { details } : {}),
  };
}

/** An absolute bound on `ours` (a latency, a size); the baseline is context only. */
export function valueBelow(
  name: string,
  unit: string,
  ours: number,
  baseline: number | null,
  bound: { label: string; max: number; inclusive?: boolean },
  details?: Record<string, unknown>,
): BenchResult {
  return {
    name,
    ours,
    baseline,
    ratio: baseline === null || baseline === 0 ? null : ours / baseline,
    target: `${bound.label} ${bound.inclusive ? '<=' : '<'} ${bound.max} ${unit}`,
    met: bound.inclusive ? ours <= bound.max : ours < bound.max,
    unit,
    ...(details ? { details } : {}),
  };
}

/** A row that only gives context to the one above it: a ratio, no target. */
export function contextRow(
  name: string,
  unit: string,
  ours: number,
  baseline: number,
  details?: Record<string, unknown>,
): BenchResult {
  return {
    name,
    ours,
    baseline,
    ratio: ours / baseline,
    target: '(context)',
    met: null,
    unit,
    ...(details ? { details } : {}),
  };
}

export function pending(name: string, target: string, unit: string, why: string): BenchResult {
  return {
    name,
    ours: null,
    baseline: null,
    ratio: null,
    target,
    met: null,
    unit,
    details: { pending: why },
  };
}

// ---------------------------------------------------------------------------------------------
// Throughput

export interface RunPlan {
  /** Untimed calls before the first measured run. */
  warmupMs: number;
  /** Length of one measured run. */
  runMs: number;
  /** Measured runs of each contender; the median is reported. */
  runs: number;
}

export function runPlan(context: BenchContext, full: RunPlan): RunPlan {
  return context.quick ? { warmupMs: 20, runMs: 60, runs: 1 } : full;
}

const BATCH = 32;

/** Calls `fn` in batches until `ms` have passed; returns calls per second. */
export function opsPerSecond(fn: () => void, ms: number): number {
  let calls = 0;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  do {
    for (let i = 0; i < BATCH; i++) fn();
    calls += BATCH;
    now = performance.now();
  } while (now < end);
  return (calls * 1000) / (now - start);
}

export async function opsPerSecondAsync(fn: () => Promise<void>, ms: number): Promise<number> {
  let calls = 0;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  do {
    await fn();
    calls += 1;
    now = performance.now();
  } while (now < end);
  return (calls * 1000) / (now - start);
}

export interface Contender {
  name: string;
  /** Returns calls per second over about `ms` milliseconds. */
  measure(ms: number): number | Promise<number>;
}

/**
 * Warms every contender up, then measures them in turn, `runs` times, rotating who goes first
 * so that neither side always runs right after the other's garbage. Medians by name.
 */
export async function interleave(
  contenders: readonly Contender[],
  plan: RunPlan,
): Promise<Record<string, { median: number; runs: number[] }>> {
  for (const contender of contenders) await contender.measure(plan.warmupMs);
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let run = 0; run < plan.runs; run++) {
    for (let i = 0; i < contenders.length; i++) {
      const contender = contenders[(i + run) % contenders.length] as Contender;
      samples.get(contender.name)?.push(await contender.measure(plan.runMs));
    }
  }
  const out: Record<string, { median: number; runs: number[] }> = {};
  for (const [name, runs] of samples) out[name] = { median: median(runs), runs };
  return out;
}

// ---------------------------------------------------------------------------------------------
// Child processes (CA servers, the revocation heap probe)

export interface Child<T> {
  /** The first line the child printed on stdout, parsed as JSON. */
  ready: T;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Runs `scripts/bench/<script>` under tsx in its own Node process and waits for its first JSON
 * line. Extra `nodeFlags` go before the loader (e.g. --expose-gc). With BENCH_CPU_PROF=DIR set,
 * children run under `--cpu-prof --cpu-prof-dir=DIR` (see bench/NOTES.md, "Profiling").
 */
export function startChild<T>(
  script: string,
  argument: unknown,
  nodeFlags: readonly string[] = [],
): Promise<Child<T>> {
  // --cpu-prof is refused in NODE_OPTIONS, so profiling children is asked for separately.
  const profileDir = process.env['BENCH_CPU_PROF'];
  const child = spawn(
    process.execPath,
    [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      ...nodeFlags,
      '--import',
      'tsx',
      fileURLToPath(new URL(script, import.meta.url)),
      JSON.stringify(argument),
    ],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    let settled = false;
    lines.once('line', (line) => {
      settled = true;
      try {
        resolve({
          ready: JSON.parse(line) as T,
          process: child,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) {
              child.stdin.end();
              child.kill('SIGTERM');
            }
            await exited;
          },
        });
      } catch (error) {
        child.kill('SIGTERM');
        reject(new Error(`${script} printed ${line.slice(0, 200)}`, { cause: error }));
      }
    });
    child.once('exit', (code, signal) => {
      if (!settled) reject(new Error(`${script} exited (${code ?? signal}) before it was ready`));
    });
    child.once('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// Machine

export interface MachineInfo {
  node: string;
  platform: string;
  arch: string;
  cpuModel: string;
  cores: number;
  availableParallelism: number;
  totalMemoryMb: number;
  freeMemoryMb: number;
  loadAverageStart: number[];
  loadAverageEnd?: number[];
  startedAt: string;
  finishedAt?: string;
  durationSeconds?: number;
  quick: boolean;
  uvThreadpoolSize: string;
}

export function machineInfo(quick: boolean): MachineInfo {
  const cpuList = cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    availableParallelism: availableParallelism(),
    totalMemoryMb: Math.round(totalmem() / 2 ** 20),
    freeMemoryMb: Math.round(freemem() / 2 ** 20),
    loadAverageStart: loadavg().map((value) => Math.round(value * 100) / 100),
    startedAt: new Date().toISOString(),
    quick,
    uvThreadpoolSize: process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)',
  };
}

// ---------------------------------------------------------------------------------------------
// Formatting

export function formatNumber(value: number | null, unit: string): string {
  if (value === null || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  const text = value.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return unit ? `${text} ${unit}` : text;
}

export function formatRatio(ratio: number | null): string {
  if (ratio === null || !Number.isFinite(ratio)) return '—';
  return ratio >= 100 ? ratio.toFixed(0) : ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(3);
}

export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  const line = (row: readonly string[]) =>
    `| ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const [head, ...body] = rows;
  return [
    line(head ?? []),
    `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}
