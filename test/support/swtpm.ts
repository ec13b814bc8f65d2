import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';

export const SWTPM_INSTALL = 'apt-get install -y swtpm swtpm-tools tpm2-tools';

/** A software TPM 2.0 (Debian's swtpm) on loopback ports, its state in a temp dir. */
export interface Swtpm {
  /** TPM2TOOLS_TCTI for it, as `lantern-agent enroll --tpm-tcti` takes it. */
  tcti: string;
  /**
   * With `ekCertificate`: the throwaway manufacturer CA (root and issuer, PEM) that signed the
   * TPM's EK certificate, for the CA's `tpm-manufacturers.pem`.
   */
  manufacturerPem?: string;
  stop(): Promise<void>;
}

export interface SwtpmOptions {
  /**
   * Manufacture the TPM as a vendor would (`swtpm_setup --create-ek-cert`): an RSA EK whose
   * certificate, in NV index 0x01c00002, comes from a manufacturer CA made by `swtpm_localca`
   * in `manufacturerDir` (made there if absent, so TPMs can share one manufacturer).
   */
  ekCertificate?: { manufacturerDir: string };
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
export async function startSwtpm(options: SwtpmOptions = {}): Promise<Swtpm> {
  requireSwtpm();
  const state = mkdtempSync(join(tmpdir(), 'lantern-swtpm-'));
  const manufacturerPem =
    options.ekCertificate === undefined
      ? undefined
      : manufacture(state, options.ekCertificate.manufacturerDir);
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
    ...(manufacturerPem === undefined ? {} : { manufacturerPem }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(state, { recursive: true, force: true });
    },
  };
}

function manufacture(state: string, manufacturerDir: string): string {
  mkdirSync(manufacturerDir, { recursive: true });
  const localCa = join(manufacturerDir, 'swtpm-localca.conf');
  writeFileSync(
    localCa,
    [
      `statedir = ${manufacturerDir}`,
      `signingkey = ${join(manufacturerDir, 'signkey.pem')}`,
      `issuercert = ${join(manufacturerDir, 'issuercert.pem')}`,
      `certserial = ${join(manufacturerDir, 'certserial')}`,
      '',
    ].join('\n'),
  );
  const setup = join(manufacturerDir, 'swtpm_setup.conf');
  writeFileSync(
    setup,
    [
      `create_certs_tool = swtpm_localca`,
      `create_certs_tool_config = ${localCa}`,
      'create_certs_tool_options = /dev/null',
      '',
    ].join('\n'),
  );
  const made = spawnSync(
    'swtpm_setup',
    ['--tpm2', '--tpmstate', state, '--create-ek-cert', '--config', setup, '--overwrite'],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`swtpm_setup failed: ${made.stdout}${made.stderr}`);
  return ['swtpm-localca-rootca-cert.pem', 'issuercert.pem']
    .map((name) => readFileSync(join(manufacturerDir, name), 'utf8'))
    .join('');
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
