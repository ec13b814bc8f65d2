import { join, resolve } from 'node:path';

export const DATA_DIR_ENV = 'LANTERN_AGENT_DATA_DIR';
export const DEFAULT_DATA_DIR = '.lantern-agent';

/**
 * Everything the agent keeps on disk, under one 0700 directory. Key material sits in `keys/`
 * (the data key's platform-secret file and the sealed device key), the loopback API secret in
 * `secrets/`, so backup and wipe tools can tell them apart from the store.
 */
export function agentPaths(dataDir: string) {
  const root = resolve(dataDir);
  return {
    dataDir: root,
    database: join(root, 'agent.db'),
    keysDir: join(root, 'keys'),
    platformSecret: join(root, 'keys', 'data-key'),
    deviceKey: join(root, 'keys', 'device-key'),
    /** Which key store holds the keys (absent: the software file store). */
    keyStoreConfig: join(root, 'keys', 'key-store.json'),
    /** A renewal's new key until its certificate is stored, then renamed to `deviceKey`. */
    nextDeviceKey: join(root, 'keys', 'device-key.next'),
    /** The replaced key between that rename and its shredding. */
    retiredDeviceKey: join(root, 'keys', 'device-key.old'),
    /** Held (O_EXCL) by the one renewal running in this data directory. */
    renewalLock: join(root, 'keys', 'renewal.lock'),
    secretsDir: join(root, 'secrets'),
    localSecret: join(root, 'secrets', 'local-api-secret'),
  };
}

export type AgentPaths = ReturnType<typeof agentPaths>;

/** `--data-dir`, else `LANTERN_AGENT_DATA_DIR`, else `./.lantern-agent`. */
export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolve(flag ?? env[DATA_DIR_ENV] ?? DEFAULT_DATA_DIR);
}
