import { existsSync } from 'node:fs';
import type { Clock } from '@lantern/shared';
import type { DeviceBinding } from '../enrollment/device-binding.js';
import { readDeviceBinding } from '../enrollment/device-binding.js';
import { NotEnrolledError } from '../errors.js';
import type { CredentialGate } from '../keys/credential-gate.js';
import type { DataKey } from '../keys/data-key.js';
import type { DeviceKeyStore } from '../keys/device-key-store.js';
import type { KeyStoreConfig } from '../keys/key-store.js';
import { openKeys } from '../keys/key-store.js';
import type { AgentStore } from '../store/agent-store.js';
import { openAgentStore } from '../store/agent-store.js';
import type { MonotonicSource } from '../time/monotonic-source.js';
import { TrustedTime } from '../time/trusted-time.js';
import type { AgentPaths } from './agent-paths.js';
import { agentPaths } from './agent-paths.js';

export interface OpenAgentOptions {
  dataDir: string;
  clock: Clock;
  /** Trusted time's elapsed-time source; by default the system's, beside the system clock. */
  monotonic?: MonotonicSource;
}

/** An enrolled agent's state, opened once per process; `close()` releases the store. */
export interface OpenedAgent {
  paths: AgentPaths;
  store: AgentStore;
  binding: DeviceBinding;
  dataKey: DataKey;
  deviceKey: DeviceKeyStore;
  /** The TPM between stored verifiers and a guess; absent with the file (software) store. */
  credentialGate?: CredentialGate;
  keyStore: KeyStoreConfig;
  trustedTime: TrustedTime;
  close(): void;
}

/**
 * Opens an enrolled data directory: store, binding, data key and device key. Refuses with
 * `not_enrolled` without creating anything when there is no binding, and with
 * `key_unavailable` when the device key is not the one the binding certificate certifies
 * (a data directory pieced together from two devices would otherwise sign as neither).
 */
export async function openAgent(options: OpenAgentOptions): Promise<OpenedAgent> {
  const paths = agentPaths(options.dataDir);
  if (!existsSync(paths.database)) {
    throw new NotEnrolledError(`${paths.dataDir} holds no agent store; enroll first`);
  }
  const store = openAgentStore(paths.database, { clock: options.clock });
  try {
    const binding = readDeviceBinding(store);
    if (binding === null) throw new NotEnrolledError(`${paths.dataDir} is not enrolled yet`);
    const keys = await openKeys(paths, store, binding.certificatePem);
    const { dataKey, deviceKey } = keys;
    return {
      paths,
      store,
      binding,
      dataKey,
      deviceKey,
      ...(keys.credentialGate === undefined ? {} : { credentialGate: keys.credentialGate }),
      keyStore: keys.config,
      trustedTime: new TrustedTime(store, { monotonic: options.monotonic }),
      close: () => store.close(),
    };
  } catch (error) {
    store.close();
    throw error;
  }
}
