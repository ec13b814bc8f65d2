import type { AgentPaths } from '../data-dir/agent-paths.js';
import type { DataKey } from '../keys/data-key.js';
import type { DeviceKeyStore } from '../keys/device-key-store.js';
import { platformSecretOf, readKeyStoreConfig } from '../keys/key-store.js';
import { shredFile } from '../keys/secret-file.js';
import type { AgentStore } from '../store/agent-store.js';

export interface ShredDeviceKeysInput {
  store: AgentStore;
  paths: AgentPaths;
  /** The loaded keys, when this process has them, so their copies in memory go too. */
  dataKey?: DataKey;
  deviceKey?: DeviceKeyStore;
  /** Trusted time, recorded as `keys_destroyed_at`. */
  now: number;
}

/**
 * Crypto-shred of a revoked device (docs/architecture.md §5): the data key first, which at once makes the
 * sealed device key, verifiers, TOTP secrets and refresh tokens unreadable (its tombstone is
 * written before the file is overwritten, so a crash in between still reads as destroyed), then
 * the sealed device key file, then the mark in the binding row. Works from the paths alone, so a
 * process that finds a wipe left pending by a crash can finish it without loading the keys.
 * Idempotent.
 */
export async function shredDeviceKeys(input: ShredDeviceKeysInput): Promise<void> {
  if (input.dataKey) await input.dataKey.destroy();
  else await platformSecretOf(input.paths, readKeyStoreConfig(input.paths)).destroy();
  if (input.deviceKey) await input.deviceKey.destroy();
  else {
    await shredFile(input.paths.deviceKey);
    await shredFile(`${input.paths.keysDir}/tpm/device.priv`);
  }
  input.store.db
    .prepare<[number]>(
      'UPDATE binding SET keys_destroyed_at = ? WHERE id = 1 AND keys_destroyed_at IS NULL',
    )
    .run(input.now);
}
