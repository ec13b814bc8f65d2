/**
 * `npm run crash-loop -- --iterations N [--agents 3] [--seed S] [--json]`: kill -9 of the CA
 * inside sync commits and of agents inside apply, N times; then the invariants (issue 11).
 * Exits 1 when one does not hold.
 */
import { parseArgs } from 'node:util';
import { crashLoopFailures, runCrashLoop } from './fleet/crash-loop.js';

const USAGE = 'usage: npm run crash-loop -- [--iterations 50] [--agents 3] [--seed S] [--json]';

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        iterations: { type: 'string', default: '50' },
        agents: { type: 'string', default: '3' },
        seed: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const iterations = Number(values.iterations);
  const agents = Number(values.agents);
  const seed = values.seed === undefined ? Date.now() % 1_000_000 : Number(values.seed);
  if (![iterations, agents, seed].every((n) => Number.isSafeInteger(n) && n >= 1)) {
    console.error(USAGE);
    return 2;
  }
  const started = Date.now();
  const report = await runCrashLoop({
    iterations,
    agents,
    seed,
    log: (line) => console.error(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`),
  });
  const failures = crashLoopFailures(report);
  const seconds = (Date.now() - started) / 1000;
  if (values.json) {
    console.log(JSON.stringify({ ...report, seed, seconds, failures }));
  } else {
    console.log(
      [
        `crash-loop seed ${seed}: ${iterations} iterations, ${agents} agents, ${seconds.toFixed(0)} s`,
        `kills: CA ${report.caKills}, agents ${report.agentKills} (${report.killsAfterACommit} after a commit of the run)`,
        `events: recorded ${report.eventsRecorded}, stored ${report.eventsStored}, lost ${report.lost}, stored twice ${report.duplicated}`,
        `feed: ${report.feedEntries} entries, cursors behind ${report.cursorsBehind}`,
        `integrity_check: CA ${report.integrity.ca}, agents ${report.integrity.agents.join(',')}; chain ${report.chain.ok ? 'ok' : 'BROKEN'} (${report.chain.checked} events)`,
        failures.length === 0 ? 'all invariants hold' : `FAILED:\n  ${failures.join('\n  ')}`,
      ].join('\n'),
    );
  }
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main();
