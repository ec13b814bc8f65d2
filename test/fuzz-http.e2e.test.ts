import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/processes.js';

interface FuzzReport {
  requests: number;
  byClass: Record<string, number>;
  serverErrors: number;
  firstServerErrors: unknown[];
  aliveAfter: boolean;
}

function fuzz(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'scripts/fuzz-http.ts', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
}

/** `npm run fuzz` in small: a real CA over real HTTP answers generated requests without a 5xx. */
describe('HTTP fuzz run', () => {
  it('300 requests over every route: no 5xx, and the CA still answers', () => {
    const result = fuzz(['--requests', '300', '--seed', '7', '--json']);
    const report = JSON.parse(result.stdout) as FuzzReport;
    expect(report.firstServerErrors).toEqual([]);
    expect(report.serverErrors).toBe(0);
    expect(report.requests).toBe(300);
    // The run must reach handlers, not only stop at the schema: some requests are accepted.
    expect(report.byClass['2xx'] ?? 0).toBeGreaterThan(0);
    expect(report.byClass['4xx'] ?? 0).toBeGreaterThan(0);
    expect(report.aliveAfter).toBe(true);
    expect(result.status).toBe(0);
  }, 150_000);

  it('refuses bad options with a usage error', () => {
    const result = fuzz(['--requests', 'many']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/positive integers/);
  });
});
