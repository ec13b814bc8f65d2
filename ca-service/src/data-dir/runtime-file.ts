import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dataDirPaths } from './paths.js';
import { writePublicFile } from './secret-files.js';
import { serveLockHeld } from './serve-lock.js';

/** What `serve` tells the admin CLI about itself, in the data dir it holds. */
export interface ServiceRuntime {
  /** Where this process listens, as a client on this host reaches it. */
  url: string;
  pid: number;
  issuer: string;
  publicUrls: string[];
  startedAt: string;
}

/** A wildcard listen address is reached through loopback from this host. */
export function reachableUrl(listenUrl: string): string {
  const url = new URL(listenUrl);
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';
  if (url.hostname === '[::]') url.hostname = '[::1]';
  return url.origin;
}

export function writeRuntimeFile(dataDir: string, runtime: ServiceRuntime): () => void {
  const path = dataDirPaths(dataDir).runtime;
  writePublicFile(path, `${JSON.stringify(runtime, null, 2)}\n`);
  return () => rmSync(path, { force: true });
}

/**
 * The \`serve\` running on this data dir: its runtime file, \`'starting'\` while it has the lock but
 * has not listened yet, \`'stopped'\` when none runs. A runtime file left by a crash does not
 * count: only the lock, which the OS dropped with the process, says one is running.
 */
export function runningService(dataDir: string): ServiceRuntime | 'starting' | 'stopped' {
  const paths = dataDirPaths(dataDir);
  if (!existsSync(paths.config) || !serveLockHeld(dataDir)) return 'stopped';
  try {
    return JSON.parse(readFileSync(paths.runtime, 'utf8')) as ServiceRuntime;
  } catch {
    return 'starting';
  }
}
