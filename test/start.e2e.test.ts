import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, freePort } from './support/processes.js';

/** Keeps the README's first command true: `npm start` brings up a CA and an enrolled agent. */
describe('npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'lantern-start-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts a CA and an enrolled agent, then stops both on SIGINT', async () => {
    const [caPort, agentPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        LANTERN_DATA_DIR: dataDir,
        LANTERN_CA_PORT: String(caPort),
        LANTERN_AGENT_PORT: String(agentPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ctrl-C stops both')) resolve();
      });
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      void exited.then(() => reject(new Error(`npm start exited early:\n${output}`)));
    });
    expect(output).toMatch(/Root fingerprint: [0-9a-f]{64}/);
    expect((await fetch(`http://127.0.0.1:${caPort}/health/ready`)).status).toBe(200);
    const status = (await (await fetch(`http://127.0.0.1:${agentPort}/v1/status`)).json()) as {
      enrolled: boolean;
    };
    expect(status.enrolled).toBe(true);
    child.kill('SIGINT');
    await exited;
    await expect(fetch(`http://127.0.0.1:${caPort}/health/live`)).rejects.toThrow();
  }, 60_000);
});
