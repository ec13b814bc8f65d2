import { spawn } from 'node:child_process';
import { CA_CLI } from '../../test/support/processes.js';

export interface CaProcess {
  pid: number;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * `lantern-ca serve`, waited for up to 90 s: test/support's startNode gives up after 20 s, which a
 * host shared with other work exceeds, and then leaves the late child holding the port.
 */
export async function startCaProcess(
  caDir: string,
  port: number,
  args: readonly string[] = [],
): Promise<CaProcess> {
  const child = spawn(
    process.execPath,
    [CA_CLI, 'serve', '--data-dir', caDir, '--port', String(port), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  let output = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/listening on/.test(output)) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      void exited.then(() => reject(new Error(`lantern-ca serve exited:\n${output}`)));
      setTimeout(() => reject(new Error(`lantern-ca serve not ready after 90 s`)), 90_000).unref();
    });
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
  // Keep draining its output so a chatty CA never blocks on a full pipe.
  child.stdout.resume();
  child.stderr.resume();
  return { pid: child.pid ?? 0, stop };
}
