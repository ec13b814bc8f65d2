import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PlatformSecret, PlatformSecretState } from '../platform-secret.js';
import { createSecretFile, shredFile } from '../secret-file.js';
import type { TpmBlobs } from './tpm-blobs.js';
import { createBlobs, tpmBlobs } from './tpm-blobs.js';
import type { Tpm2Tools } from './tpm2-tools.js';

/** A sealed data object: no `sign`/`decrypt`, and the data comes from us, not from the TPM. */
const SEALED_ATTRIBUTES = 'fixedtpm|fixedparent|userwithauth|noda';

/**
 * The data key sealed to the TPM: `keys/tpm/data-key.{pub,priv}` unseal on this TPM only, so a
 * copy of the data directory on another machine opens nothing. The key is handed over on the
 * tool's stdin and read back from its stdout; it never touches a file.
 */
export class TpmPlatformSecret implements PlatformSecret {
  readonly description: string;
  private readonly blobs: TpmBlobs;
  private readonly tombstone: string;

  constructor(
    private readonly tpm: Tpm2Tools,
    private readonly parent: string,
    keysDir: string,
  ) {
    this.blobs = tpmBlobs(keysDir, 'data-key');
    this.tombstone = join(keysDir, 'tpm', 'data-key.destroyed');
    this.description = `TPM-sealed ${this.blobs.priv} (${tpm.tcti})`;
  }

  load(): Promise<PlatformSecretState> {
    if (existsSync(this.tombstone)) return Promise.resolve({ state: 'destroyed' });
    if (!existsSync(this.blobs.priv)) return Promise.resolve({ state: 'absent' });
    const secret = this.tpm.withObject(this.parent, this.blobs, (context) =>
      this.tpm.run('tpm2_unseal', ['-c', context]),
    );
    return Promise.resolve({ state: 'present', secret });
  }

  async create(secret: Buffer): Promise<boolean> {
    if (existsSync(this.tombstone) || existsSync(this.blobs.priv)) return false;
    await createBlobs(
      this.tpm,
      this.parent,
      this.blobs,
      ['-a', SEALED_ATTRIBUTES, '-i', '-'],
      secret,
    );
    return true;
  }

  async destroy(): Promise<void> {
    await createSecretFile(this.tombstone, Buffer.from('{"version":1}'));
    await shredFile(this.blobs.priv);
    await shredFile(this.blobs.pub);
  }
}
