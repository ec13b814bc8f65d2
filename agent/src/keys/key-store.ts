import { readFileSync } from 'node:fs';
import { InvalidRequestError } from '@lantern/shared';
import type { AgentPaths } from '../data-dir/agent-paths.js';
import { DataKeyDestroyedError, KeyUnavailableError } from '../errors.js';
import type { AgentStore } from '../store/agent-store.js';
import { certifiedKeyOf, loadBindingKey } from './binding-key.js';
import { StateSeal } from '../store/state-seal.js';
import type { CredentialGate } from './credential-gate.js';
import { DataKey } from './data-key.js';
import type { DeviceKeyStore } from './device-key-store.js';
import { FileDeviceKeyStore } from './file-device-key-store.js';
import { FilePlatformSecret } from './file-platform-secret.js';
import type { PlatformSecret } from './platform-secret.js';
import { createSecretFile, shredFile } from './secret-file.js';
import { TpmAttestation } from './tpm/tpm-attestation.js';
import { tpmBlobs } from './tpm/tpm-blobs.js';
import { TpmCounter, hex } from './tpm/tpm-counter.js';
import { TpmCredentialGate } from './tpm/tpm-credential-gate.js';
import { TpmDeviceKeyStore } from './tpm/tpm-device-key-store.js';
import { TpmPlatformSecret } from './tpm/tpm-platform-secret.js';
import { TpmShredIndex } from './tpm/tpm-shred-index.js';
import { Tpm2Tools } from './tpm/tpm2-tools.js';

/** `lantern-agent enroll --key-store`. */
export type KeyStoreKind = 'file' | 'tpm';

/** `keys/key-store.json`; absent means the file store (software tier). */
export type KeyStoreConfig =
  | { kind: 'file' }
  | {
      kind: 'tpm';
      /** TPM2TOOLS_TCTI, e.g. `device:/dev/tpmrm0` or `swtpm:host=127.0.0.1,port=2321`. */
      tcti: string;
      /** The NV counter that seals the lockout, trusted-time and revocation rows. */
      nvIndex: number;
      /** The NV index holding the sealed data key's authValue; the wipe undefines it. */
      shredIndex: number;
      /** Persistent handle of the storage primary the keys are wrapped with, `0x81……`. */
      primary: string;
    };

/** Derives the state seal's MAC key from the data key (`StateSeal`); exported for its tests. */
export const SEAL_KEY_LABEL = 'lantern state seal v1';

/** The keys of an opened data directory, whichever store holds them. */
export interface OpenedKeys {
  config: KeyStoreConfig;
  dataKey: DataKey;
  deviceKey: DeviceKeyStore;
  /** Hardware between stored verifiers and a guess; absent in the software tier. */
  credentialGate?: CredentialGate;
}

export function readKeyStoreConfig(paths: AgentPaths): KeyStoreConfig {
  let text: string;
  try {
    text = readFileSync(paths.keyStoreConfig, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'file' };
    throw error;
  }
  const parsed = JSON.parse(text) as Record<string, unknown>;
  if (
    parsed.version === 1 &&
    parsed.kind === 'tpm' &&
    typeof parsed.tcti === 'string' &&
    typeof parsed.nvIndex === 'string' &&
    /^0x[0-9a-f]{8}$/.test(parsed.nvIndex) &&
    typeof parsed.shredIndex === 'string' &&
    /^0x[0-9a-f]{8}$/.test(parsed.shredIndex) &&
    typeof parsed.primary === 'string' &&
    /^0x81[0-9a-f]{6}$/.test(parsed.primary)
  ) {
    return {
      kind: 'tpm',
      tcti: parsed.tcti,
      nvIndex: Number.parseInt(parsed.nvIndex, 16),
      shredIndex: Number.parseInt(parsed.shredIndex, 16),
      primary: parsed.primary,
    };
  }
  throw new KeyUnavailableError(`${paths.keyStoreConfig} is not a version 1 key store file`);
}

export function platformSecretOf(paths: AgentPaths, config: KeyStoreConfig): PlatformSecret {
  return config.kind === 'tpm'
    ? tpmPlatformSecret(paths, config, new Tpm2Tools(config.tcti))
    : new FilePlatformSecret(paths.platformSecret);
}

function tpmPlatformSecret(
  paths: AgentPaths,
  config: KeyStoreConfig & { kind: 'tpm' },
  tpm: Tpm2Tools,
): TpmPlatformSecret {
  return new TpmPlatformSecret(
    tpm,
    config.primary,
    paths.keysDir,
    new TpmShredIndex(tpm, config.shredIndex),
  );
}

/**
 * Loads the data key and device key of an enrolled directory. With the TPM store, the state
 * seal is checked before anything else reads the store, and installed so that every later write
 * of the sealed rows on this connection reseals them.
 */
export async function openKeys(
  paths: AgentPaths,
  store: AgentStore,
  certificatePem: string,
): Promise<OpenedKeys> {
  const config = readKeyStoreConfig(paths);
  if (config.kind === 'file') {
    const dataKey = await DataKey.load(new FilePlatformSecret(paths.platformSecret));
    return { config, dataKey, deviceKey: await loadBindingKey(paths, dataKey, certificatePem) };
  }
  const tpm = new Tpm2Tools(config.tcti);
  const dataKey = await DataKey.load(tpmPlatformSecret(paths, config, tpm));
  guardWithSeal(store, tpm, config.nvIndex, dataKey);
  const deviceKey = TpmDeviceKeyStore.load(tpm, config.primary, paths.keysDir);
  if (!certifiedKeyOf(certificatePem).equals(deviceKey.publicKey())) {
    throw new KeyUnavailableError(
      `the device key in ${paths.keysDir} is not the key of the binding certificate`,
    );
  }
  return {
    config,
    dataKey,
    deviceKey,
    credentialGate: new TpmCredentialGate(tpm, config.primary),
  };
}

const guarded = new WeakSet<AgentStore>();

/**
 * For a connection opened without `openKeys` that may still write sealed rows (the local token
 * verifier raises the trusted-time mark): checks the seal and installs the resealing triggers,
 * once per connection. Nothing to do in the software tier, before enrollment, or once the data
 * key was shredded (the device is dead; nothing it writes is trusted again).
 */
export async function ensureStateSeal(paths: AgentPaths, store: AgentStore): Promise<void> {
  if (guarded.has(store)) return;
  const config = readKeyStoreConfig(paths);
  if (config.kind === 'file') return;
  const tpm = new Tpm2Tools(config.tcti);
  let dataKey: DataKey;
  try {
    dataKey = await DataKey.load(tpmPlatformSecret(paths, config, tpm));
  } catch (error) {
    if (error instanceof DataKeyDestroyedError) return;
    throw error;
  }
  guardWithSeal(store, tpm, config.nvIndex, dataKey);
}

/** Refuses a store whose sealed rows were rolled back or edited, then reseals on every write. */
function guardWithSeal(store: AgentStore, tpm: Tpm2Tools, nvIndex: number, dataKey: DataKey): void {
  const seal = new StateSeal(
    store,
    new TpmCounter(tpm, nvIndex),
    dataKey.deriveKey(SEAL_KEY_LABEL),
  );
  seal.verify();
  seal.install();
  guarded.add(store);
}

/** Keys made at enrollment; `sealState` runs once the binding is committed. */
export interface CreatedKeys {
  dataKey: DataKey;
  deviceKey: DeviceKeyStore;
  sealState(store: AgentStore): Promise<void>;
  /** TPM store: starts an attestation of the device key for the CA (hardware tier). */
  attestation?: () => TpmAttestation;
  /** Undoes everything this enrollment made (files and the TPM counter). */
  remove(): Promise<void>;
}

export function parseKeyStoreKind(value: string): KeyStoreKind {
  if (value === 'file' || value === 'tpm') return value;
  throw new InvalidRequestError(`--key-store must be file or tpm, not "${value}"`);
}

export async function createKeys(
  paths: AgentPaths,
  choice: { kind: KeyStoreKind; tcti?: string },
): Promise<CreatedKeys> {
  if (choice.kind === 'file') {
    const dataKey = await DataKey.loadOrCreate(new FilePlatformSecret(paths.platformSecret));
    return {
      dataKey,
      deviceKey: await FileDeviceKeyStore.generate(paths.deviceKey, dataKey),
      sealState: () => Promise.resolve(),
      remove: () => removeKeyFiles(paths),
    };
  }
  if (choice.tcti === undefined || choice.tcti.length === 0) {
    throw new InvalidRequestError('--key-store tpm needs --tpm-tcti (e.g. device:/dev/tpmrm0)');
  }
  const tpm = new Tpm2Tools(choice.tcti);
  const primary = tpm.persistPrimary();
  let counter: TpmCounter | undefined;
  let shred: TpmShredIndex | undefined;
  const remove = async () => {
    counter?.undefine();
    shred?.undefine();
    tpm.evict(primary);
    await removeKeyFiles(paths);
  };
  let dataKey: DataKey;
  let deviceKey: DeviceKeyStore;
  try {
    shred = TpmShredIndex.define(tpm);
    dataKey = await DataKey.loadOrCreate(new TpmPlatformSecret(tpm, primary, paths.keysDir, shred));
    deviceKey = await TpmDeviceKeyStore.generate(tpm, primary, paths.keysDir);
    counter = TpmCounter.define(tpm);
  } catch (error) {
    await remove();
    throw error;
  }
  const definedCounter = counter;
  const shredIndex = shred.index;
  return {
    dataKey,
    deviceKey,
    attestation: () => new TpmAttestation(tpm, primary, tpmBlobs(paths.keysDir, 'device')),
    async sealState(store) {
      new StateSeal(store, definedCounter, dataKey.deriveKey(SEAL_KEY_LABEL)).initialize();
      const config = {
        version: 1,
        kind: 'tpm',
        tcti: choice.tcti,
        nvIndex: hex(definedCounter.index),
        shredIndex: hex(shredIndex),
        primary,
      };
      await createSecretFile(paths.keyStoreConfig, Buffer.from(JSON.stringify(config)));
    },
    remove,
  };
}

/** Every key file either store may have left; without a binding nothing is sealed under them. */
export async function removeKeyFiles(paths: AgentPaths): Promise<void> {
  await shredFile(paths.deviceKey);
  await shredFile(paths.platformSecret);
  await shredFile(paths.keyStoreConfig);
  for (const name of ['device', 'data-key']) {
    await shredFile(`${paths.keysDir}/tpm/${name}.priv`);
    await shredFile(`${paths.keysDir}/tpm/${name}.pub`);
  }
  await shredFile(`${paths.keysDir}/tpm/data-key.destroyed`);
}
