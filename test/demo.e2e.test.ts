import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/processes.js';

/** `npm run demo` is the product's story; it exits non-zero as soon as a step misbehaves. */
describe('npm run demo', () => {
  it('tells the whole story and every step behaves', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(result.stdout).toContain('The story holds: every step behaved.');
    expect(result.status, result.stdout + result.stderr).toBe(0);
  }, 240_000);
});
