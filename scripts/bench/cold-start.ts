/**
 * Cold start of the agent's one-shot commands, as a login hook or a script meets them: the
 * real bin (`agent/package.json` `bin`, the compiled `agent/dist/cli/main.js`, built by
 * `npm run bench`'s `tsc -b`) spawned as a new Node process, from spawn to exit.
 *
 * - `lantern-agent status --data-dir D --json` on an enrolled data directory (opens the store,
 *   parses the binding certificate).
 * - `lantern-agent verify TOKEN --data-dir D --json` with a session token of that device
 *   (opens the store, checks the state seal, verifies chain, signature and revocations).
 * Baseline: `node -e ''`, the same Node binary doing nothing. Runs alternate; medians.
 * The device is enrolled with an in-process CA (agent/test/signin-harness.ts) whose clock
 * stands at T0, so the commands run with LANTERN_TEST_TIME_OFFSET_MS putting them there too.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TEST_TIME_OFFSET_ENV } from '@lantern/shared';
import { signInOnline } from '../../agent/src/signin/online-signin.js';
import { PASSWORD, T0, startSigninWorld } from '../../agent/test/signin-harness.js';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { ROOT, median, ratioAtMost } from './harness.js';

const BIN = join(ROOT, 'agent', 'dist', 'cli', 'main.js');
const MAX_RATIO = 3;

function run(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let stderr = '';
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - started;
      if (code === 0) resolve(ms);
      else reject(new Error(`node ${args.join(' ').slice(0, 120)} exited ${code}: ${stderr}`));
    });
  });
}

export const coldStart: Benchmark = {
  name: 'cold-start',
  title: '`lantern-agent status` / `verify` cold start (the real bin, spawned) vs `node -e ""`',
  async run(context: BenchContext): Promise<BenchResult[]> {
    const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-cold-'));
    let made = 0;
    const world = await startSigninWorld(() => join(dir, `device-${(made += 1)}`));
    try {
      await world.user('amina');
      const device = await world.device();
      const online = await signInOnline(device.agent, { username: 'amina', password: PASSWORD });
      if (online.kind !== 'answered' || !online.verdict.ok) {
        throw new Error(`online sign-in failed: ${JSON.stringify(online)}`);
      }
      const token = online.verdict.token;
      // Without NODE_OPTIONS: a loader the runner was started with (tsx) is not the bin's.
      const { NODE_OPTIONS: _loader, ...inherited } = process.env;
      const env = { ...inherited, [TEST_TIME_OFFSET_ENV]: String(T0 - Date.now()) };
      const commands = {
        bare: ['-e', ''],
        status: [BIN, 'status', '--data-dir', device.dataDir, '--json'],
        verify: [BIN, 'verify', token, '--data-dir', device.dataDir, '--json'],
      };
      const samples = { bare: [] as number[], status: [] as number[], verify: [] as number[] };
      const names = Object.keys(commands) as (keyof typeof commands)[];
      for (const name of names) await run(commands[name], env);
      const rounds = context.quick ? 2 : 15;
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < names.length; i++) {
          const name = names[(i + round) % names.length] as keyof typeof commands;
          samples[name].push(await run(commands[name], env));
        }
      }
      const bare = median(samples.bare);
      context.log(
        `cold-start: ${rounds} rounds; bare node ${bare.toFixed(0)} ms, status ${median(samples.status).toFixed(0)} ms, verify ${median(samples.verify).toFixed(0)} ms`,
      );
      const row = (command: 'status' | 'verify') =>
        ratioAtMost(
          `\`lantern-agent ${command}\` cold start (spawned bin)`,
          'ms',
          median(samples[command]),
          bare,
          MAX_RATIO,
          {
            ours: `node agent/dist/cli/main.js ${command} … --json, spawn to exit`,
            baseline: "node -e '', spawn to exit",
            oursMs: samples[command],
            baselineMs: samples.bare,
          },
        );
      return [row('status'), row('verify')];
    } finally {
      await world.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
