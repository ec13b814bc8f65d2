import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { KeyUnavailableError, TpmUnavailableError } from '../../errors.js';
import { hex } from './tpm-counter.js';
import type { PlatformSecret, PlatformSecretState } from '../platform-secret.js';
import { createSecretFile, shredFile } from '../secret-file.js';
import type { TpmBlobs } from './tpm-blobs.js';
import { tpmBlobs } from './tpm-blobs.js';
import type { TpmShredIndex } from './tpm-shred-index.js';
import { TpmCommandError } from './tpm2-tools.js';
import type { Tpm2Tools } from './tpm2-tools.js';

/** A sealed data object: no `sign`/`decrypt`, and the data comes from us, not from the TPM. */
const SEALED_ATTRIBUTES = 'fixedtpm|fixedparent|userwithauth|noda';

/**
 * The data key sealed to the TPM: `keys/tpm/data-key.{pub,priv}` unseal on this TPM only, so a
 * copy of the data directory on another machine opens nothing; and only with the authValue held
 * in the shred index, so after the wipe undefined it no copy opens on this TPM either. The key
 * is handed over on the tool's stdin and read back from its stdout; it never touches a file.
 */
export class TpmPlatformSecret implements PlatformSecret {
  readonly description: string;
  private readonly blobs: TpmBlobs;
  private readonly tombstone: string;

  constructor(
    private readonly tpm: Tpm2Tools,
    private readonly parent: string,
    keysDir: string,
    private readonly shred: TpmShredIndex,
  ) {
    this.blobs = tpmBlobs(keysDir, 'data-key');
    this.tombstone = join(keysDir, 'tpm', 'data-key.destroyed');
    this.description = `TPM-sealed ${this.blobs.priv} (${tpm.tcti})`;
  }

  load(): Promise<PlatformSecretState> {
    if (existsSync(this.tombstone)) return Promise.resolve({ state: 'destroyed' });
    if (!existsSync(this.blobs.priv)) return Promise.resolve({ state: 'absent' });
    const auth = this.shred.authValue();
    if (auth === null) {
      throw new TpmUnavailableError(
        `the TPM at ${this.tpm.tcti} has no shred index ${hex(this.shred.index)}: another TPM, or the data key was shredded`,
      );
    }
    try {
      const secret = this.tpm.withObject(this.parent, this.blobs, (context) =>
        this.tpm.run('tpm2_unseal', ['-c', context, '-p', 'file:-'], { input: auth }),
      );
      return Promise.resolve({ state: 'present', secret });
    } catch (error) {
      // An index someone defined again at the same handle: the key this blob held is gone.
      if (error instanceof TpmCommandError && error.authFailed) {
        return Promise.resolve({ state: 'destroyed' });
      }
      throw error;
    } finally {
      auth.fill(0);
    }
  }

  async create(secret: Buffer): Promise<boolean> {
    if (existsSync(this.tombstone) || existsSync(this.blobs.priv)) return false;
    const auth = this.shred.authValue();
    if (auth === null) throw new KeyUnavailableError('the TPM shred index is not defined');
    await mkdir(dirname(this.blobs.pub), { recursive: true, mode: 0o700 });
    // Sealed with an empty authValue (the data goes over stdin), then given the shred index's:
    // `tpm2_create` cannot take both the data and the auth on stdin.
    const created = this.tpm.withScratch((dir) => {
      const [pub, priv, context, authed] = ['o.pub', 'o.priv', 'o.ctx', 'authed.priv'].map((name) =>
        join(dir, name),
      ) as [string, string, string, string];
      const parent = this.parent;
      this.tpm.run(
        'tpm2_create',
        ['-C', parent, '-a', SEALED_ATTRIBUTES, '-i', '-', '-u', pub, '-r', priv, '-Q'],
        { input: secret },
      );
      this.tpm.run('tpm2_load', ['-C', parent, '-u', pub, '-r', priv, '-c', context, '-Q']);
      this.tpm.flushTransient();
      this.tpm.run('tpm2_changeauth', ['-c', context, '-C', parent, '-r', authed, 'file:-'], {
        input: auth,
      });
      return { pub: readFileSync(pub), priv: readFileSync(authed) };
    });
    auth.fill(0);
    if (!(await createSecretFile(this.blobs.priv, created.priv))) return false;
    await createSecretFile(this.blobs.pub, created.pub);
    return true;
  }

  async destroy(): Promise<void> {
    await createSecretFile(this.tombstone, Buffer.from('{"version":1}'));
    // The shred proper: the files below are only the tidy-up, their copies open nothing now.
    this.shred.undefine();
    await shredFile(this.blobs.priv);
    await shredFile(this.blobs.pub);
  }
}
