import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';

export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';

export interface PrivateNats {
  url: string;
  port: number;
  storeDir: string;
  /** SIGKILL: no graceful shutdown, as in a crash or a pulled cable. */
  kill(): Promise<void>;
  /** Starts again on the same port and store directory (the streams survive). */
  restart(): Promise<void>;
  /** Kills the server and deletes its store. */
  stop(): Promise<void>;
}

/**
 * A nats-server with JetStream of its own, on a free port with a temporary store, so test runs
 * never share a broker (nor the developer's 127.0.0.1:4222).
 */
export async function startNats(
  options: { port?: number; args?: readonly string[] } = {},
): Promise<PrivateNats> {
  const port = options.port ?? (await freePort());
  const storeDir = mkdtempSync(join(tmpdir(), 'lantern-nats-'));
  let child: ChildProcess | undefined = await launch(port, storeDir, options.args);

  const kill = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGKILL');
    await exited;
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    kill,
    async restart() {
      await kill();
      child = await launch(port, storeDir, options.args);
    },
    async stop() {
      await kill();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

export interface NatsCluster {
  /** Client URLs of every node, for `servers`. */
  urls: string[];
  nodes: PrivateNats[];
  stop(): Promise<void>;
}

/**
 * A JetStream cluster of `size` local nodes (distinct client and route ports, a store each), so
 * replicated streams and node failures are real. Resolves once every node is ready; JetStream's
 * meta leader may still be electing, which callers wait out by retrying their first request.
 */
export async function startNatsCluster(size = 3, name = 'lantern-test'): Promise<NatsCluster> {
  const ports = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = routePorts.map((port) => `nats-route://127.0.0.1:${port}`).join(',');
  const nodes = await Promise.all(
    ports.map((port, index) =>
      startNats({
        port,
        args: [
          '--name',
          `${name}-${index}`,
          '--cluster_name',
          name,
          '--cluster',
          `nats://127.0.0.1:${routePorts[index]}`,
          '--routes',
          routes,
        ],
      }),
    ),
  );
  return {
    urls: nodes.map((node) => node.url),
    nodes,
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
    },
  };
}

async function launch(
  port: number,
  storeDir: string,
  extraArgs: readonly string[] = [],
): Promise<ChildProcess> {
  const child = spawn(
    NATS_SERVER_BIN,
    ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir, ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let ready = false;
  await new Promise<void>((resolve, reject) => {
    // Keeps draining the pipes after start-up: a full pipe would block the server.
    const onData = (chunk: Buffer) => {
      if (ready) return;
      output += chunk.toString();
      if (output.includes('Server is ready')) {
        ready = true;
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`nats-server exited with ${code} before it was ready:\n${output}`)),
    );
    setTimeout(
      () => reject(new Error(`nats-server not ready after 10 s:\n${output}`)),
      10_000,
    ).unref();
  });
  return child;
}
