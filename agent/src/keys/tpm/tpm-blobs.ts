import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DeviceKeyExistsError } from '../../errors.js';
import { createSecretFile } from '../secret-file.js';
import type { Tpm2Tools } from './tpm2-tools.js';

/** A TPM object kept outside the TPM: its public area and its private area wrapped by the TPM. */
export interface TpmBlobs {
  pub: string;
  priv: string;
}

export function tpmBlobs(keysDir: string, name: string): TpmBlobs {
  return { pub: join(keysDir, 'tpm', `${name}.pub`), priv: join(keysDir, 'tpm', `${name}.priv`) };
}

/**
 * `tpm2_create` under the storage primary, the blobs then written like key files (0600, never
 * replacing one). `input` goes to the tool's stdin (`-i -` sealed data, `-p file:-` auth).
 */
export async function createBlobs(
  tpm: Tpm2Tools,
  parent: string,
  blobs: TpmBlobs,
  args: readonly string[],
  input?: Uint8Array,
): Promise<void> {
  await mkdir(dirname(blobs.pub), { recursive: true, mode: 0o700 });
  const created = createInScratch(tpm, parent, args, input);
  if (!(await createSecretFile(blobs.priv, created.priv))) {
    throw new DeviceKeyExistsError(`a TPM object already exists at ${blobs.priv}`);
  }
  await createSecretFile(blobs.pub, created.pub);
}

/** The same, returning the blobs instead of writing them (they go into a store row). */
export function createInScratch(
  tpm: Tpm2Tools,
  parent: string,
  argsOf: readonly string[] | ((scratch: string) => readonly string[]),
  input?: Uint8Array,
): { pub: Buffer; priv: Buffer } {
  return tpm.withScratch((dir) => {
    const args = typeof argsOf === 'function' ? argsOf(dir) : argsOf;
    const pub = join(dir, 'object.pub');
    const priv = join(dir, 'object.priv');
    tpm.run('tpm2_create', ['-C', parent, ...args, '-u', pub, '-r', priv, '-Q'], {
      ...(input === undefined ? {} : { input }),
    });
    return { pub: readFileSync(pub), priv: readFileSync(priv) };
  });
}
