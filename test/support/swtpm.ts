import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';

export const SWTPM_INSTALL = 'apt-get install -y swtpm swtpm-tools tpm2-tools';

/** A software TPM 2.0 (Debian's swtpm) on loopback ports, its state in a temp dir. */
export interface Swtpm {
  /** TPM2TOOLS_TCTI for it, as `lantern-agent enroll --tpm-tcti` takes it. */
  tcti: string;
  stop(): Promise<void>;
}

/** Fails at once, naming the Debian packages, when swtpm or tpm2-tools are missing. */
export function requireSwtpm(): void {
  for (const tool of ['swtpm', 'tpm2_createprimary']) {
    const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (found.status !== 0) {
      throw new Error(`${tool} is not installed; the TPM tests need: ${SWTPM_INSTALL}`);
    }
  }
}

/**
 * `swtpm socket --tpm2 --flags not-need-init,startup-clear`: started and ready for tpm2-tools
 * without a resource manager, which is why the agent flushes transient objects itself.
 */
export async function startSwtpm(): Promise<Swtpm> {
  requireSwtpm();
  const state = mkdtempSync(join(tmpdir(), 'lantern-swtpm-'));
  // The swtpm TCTI finds the control channel at the server port + 1.
  const port = await freePortPair();
  const ctrl = port + 1;
  const child: ChildProcess = spawn(
    'swtpm',
    [
      ...['socket', '--tpm2', '--flags', 'not-need-init,startup-clear'],
      ...['--server', `type=tcp,port=${port},bindaddr=127.0.0.1`],
      ...['--ctrl', `type=tcp,port=${ctrl},bindaddr=127.0.0.1`],
      ...['--tpmstate', `dir=${state}`],
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port, child);
  return {
    tcti: `swtpm:host=127.0.0.1,port=${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(state, { recursive: true, force: true });
    },
  };
}

async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort();
    if (port < 65535 && (await canListen(port + 1))) return port;
  }
  throw new Error('no two adjacent free ports for swtpm');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (child.exitCode !== null) throw new Error(`swtpm exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`swtpm did not listen on ${port}`);
}
