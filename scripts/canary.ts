/**
 * `npm run canary -- --url URL --tenant T --user U`: the synthetic monitor of the observability
 * spec (§9). See `scripts/canary/canary-cli.ts` for the options and docs/observability.md.
 */
import { runCanaryCli } from './canary/canary-cli.js';

const stopped = new Promise<void>((resolve) => {
  process.once('SIGINT', () => resolve());
  process.once('SIGTERM', () => resolve());
});

process.exitCode = await runCanaryCli(process.argv.slice(2), {
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
  env: process.env,
  stopped,
});
process.exit();
