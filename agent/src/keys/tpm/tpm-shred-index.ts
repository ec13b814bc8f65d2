import { randomBytes, randomInt } from 'node:crypto';
import { hex } from './tpm-counter.js';
import { TpmCommandError } from './tpm2-tools.js';
import type { Tpm2Tools } from './tpm2-tools.js';

const NV_OWNER_BASE = 0x01800000;
const NV_OWNER_SPAN = 0x10000;
/** An ordinary index the owner reads and writes; its contents are the point, not its name. */
const SHRED_ATTRIBUTES = 'ownerread|ownerwrite|no_da';
const SECRET_BYTES = 16;
const DEFINE_ATTEMPTS = 8;
/** TPM_RC_HANDLE (format 1, handle 1): the index is not defined (any more). */
const RC_HANDLE = 0x18b;

/**
 * The crypto-shred switch of the TPM store: an NV index holding the random authValue of the
 * sealed data key. The secret exists only in the TPM's NV memory, never in the data directory,
 * so undefining the index at the wipe makes every copy of the sealed blob, taken before or
 * after, unsealable for good. A policy (PolicyNV, PolicySecret) on the index would not do: an
 * owner can define an index with the same public area, hence the same name and policy, again.
 */
export class TpmShredIndex {
  constructor(
    private readonly tpm: Tpm2Tools,
    readonly index: number,
  ) {}

  static define(tpm: Tpm2Tools): TpmShredIndex {
    for (let attempt = 0; ; attempt++) {
      const index = NV_OWNER_BASE + randomInt(NV_OWNER_SPAN);
      try {
        tpm.run('tpm2_nvdefine', [
          hex(index),
          '-C',
          'o',
          '-s',
          String(SECRET_BYTES),
          '-a',
          SHRED_ATTRIBUTES,
        ]);
      } catch (error) {
        if (error instanceof TpmCommandError && attempt < DEFINE_ATTEMPTS) continue;
        throw error;
      }
      const secret = randomBytes(SECRET_BYTES);
      try {
        tpm.run('tpm2_nvwrite', [hex(index), '-C', 'o', '-i', '-'], { input: secret });
      } finally {
        secret.fill(0);
      }
      return new TpmShredIndex(tpm, index);
    }
  }

  /** The sealed data key's authValue (hex, as `-p file:-` reads it); null once undefined. */
  authValue(): Buffer | null {
    let raw: Buffer;
    try {
      raw = this.tpm.run('tpm2_nvread', [hex(this.index), '-C', 'o', '-s', String(SECRET_BYTES)]);
    } catch (error) {
      if (error instanceof TpmCommandError && error.responseCode === RC_HANDLE) return null;
      throw error;
    }
    const auth = Buffer.from(raw.toString('hex'), 'utf8');
    raw.fill(0);
    return auth;
  }

  /** The shred itself. Idempotent: an index already gone is what was wanted. */
  undefine(): void {
    try {
      this.tpm.run('tpm2_nvundefine', [hex(this.index), '-C', 'o']);
    } catch (error) {
      if (error instanceof TpmCommandError && error.responseCode === RC_HANDLE) return;
      throw error;
    }
  }
}
