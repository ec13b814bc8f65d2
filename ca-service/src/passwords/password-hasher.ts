import type { ScryptOptions } from 'node:crypto';
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { MAX_SECRET_BYTES } from './credential-policy.js';
import type { KdfAdmissionConfig } from './kdf-admission.js';
import { KdfAdmission } from './kdf-admission.js';
import type { ParsedPasswordHash, ScryptParams } from './password-hash-format.js';
import {
  formatPasswordHash,
  needsRehash,
  parsePasswordHash,
  scryptMemory,
} from './password-hash-format.js';

/**
 * N = 2^14, r = 8 (16 MiB): 40–55 ms per hash on the 2-core reference machine, so with the
 * libuv pool of 4 a burst of logins stays under the 100 ms p95 budget. 2^15 measured ~100 ms
 * there, which is the whole budget for a single login.
 */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = {
  ln: 14,
  r: 8,
  p: 1,
  keyLength: 32,
  saltLength: 16,
};

export interface PasswordHasherConfig {
  params?: Partial<ScryptParams>;
  /**
   * The most memory one hash may take. Stored hashes that would need more are refused as
   * malformed, so a tampered row cannot make the service allocate gigabytes. Default 64 MiB.
   */
  maxmem?: number;
  /** Bounds the sign-in checks (`verify`, `dummyVerify`) running or waiting at once. */
  admission?: KdfAdmissionConfig;
}

export type PasswordVerdict =
  { ok: true; needsRehash: boolean } | { ok: false; reason: 'mismatch' | 'malformed_hash' };

export interface PasswordHasher {
  readonly params: ScryptParams;
  /** Throws RangeError for input over MAX_SECRET_BYTES: run the credential policy first. */
  hash(password: string): Promise<string>;
  /** Throws `LoginOverloadedError` when the admission bound is reached, before any work. */
  verify(password: string, stored: string): Promise<PasswordVerdict>;
  /**
   * Costs what `verify` costs and always fails: call it when the user does not exist, so an
   * unknown user and a wrong password cannot be told apart by timing.
   */
  dummyVerify(password: string): Promise<{ ok: false; reason: 'mismatch' }>;
}

const MISMATCH = { ok: false, reason: 'mismatch' } as const;
const EMPTY = Buffer.alloc(0);

export function createPasswordHasher(config: PasswordHasherConfig = {}): PasswordHasher {
  const params: ScryptParams = { ...DEFAULT_SCRYPT_PARAMS, ...config.params };
  const maxmem = config.maxmem ?? 64 * 1024 * 1024;
  const admission = new KdfAdmission(config.admission);
  const sample = formatPasswordHash(
    params,
    Buffer.alloc(params.saltLength),
    Buffer.alloc(params.keyLength),
  );
  // The hasher must be able to read back what it writes, under its own memory bound.
  if (parsePasswordHash(sample) === null || scryptMemory(params) > maxmem) {
    throw new RangeError(`unusable scrypt parameters ${JSON.stringify(params)} (maxmem ${maxmem})`);
  }
  // Checked against like a real hash: same parameters, same length, never a match in practice.
  const dummy: ParsedPasswordHash = {
    ln: params.ln,
    r: params.r,
    p: params.p,
    salt: randomBytes(params.saltLength),
    hash: randomBytes(params.keyLength),
  };

  const derive = (
    password: Buffer,
    salt: Buffer,
    target: Pick<ScryptParams, 'ln' | 'r' | 'p'>,
    keyLength: number,
  ) => {
    const options: ScryptOptions = { N: 2 ** target.ln, r: target.r, p: target.p, maxmem };
    return new Promise<Buffer>((resolve, reject) => {
      scrypt(password, salt, keyLength, options, (error, key) =>
        error ? reject(error) : resolve(key),
      );
    });
  };

  const check = async (password: string, against: ParsedPasswordHash | null) => {
    const target = against ?? dummy;
    const secret = encodeSecret(password);
    // Unreadable hashes and over-long input still pay for a full derivation: refusing them
    // early would let timing tell them apart from a wrong password.
    const derived = await admission.run(() =>
      derive(secret ?? EMPTY, target.salt, target, target.hash.length),
    );
    return timingSafeEqual(derived, target.hash) && secret !== null && against !== null;
  };

  return {
    params,
    async hash(password) {
      const secret = encodeSecret(password);
      if (secret === null) {
        throw new RangeError(`passwords are at most ${MAX_SECRET_BYTES} bytes`);
      }
      const salt = randomBytes(params.saltLength);
      return formatPasswordHash(params, salt, await derive(secret, salt, params, params.keyLength));
    },
    async verify(password, stored) {
      const parsed = parsePasswordHash(stored);
      const readable = parsed !== null && scryptMemory(parsed) <= maxmem ? parsed : null;
      const matched = await check(password, readable);
      if (readable === null) return { ok: false, reason: 'malformed_hash' };
      return matched ? { ok: true, needsRehash: needsRehash(stored, params) } : MISMATCH;
    },
    async dummyVerify(password) {
      await check(password, null);
      return MISMATCH;
    },
  };
}

/** NFC so the same password typed on two keyboards hashes the same; null when over the bound. */
function encodeSecret(password: string): Buffer | null {
  if (typeof password !== 'string' || password.length > MAX_SECRET_BYTES) return null;
  const bytes = Buffer.from(password.normalize('NFC'), 'utf8');
  return bytes.length > MAX_SECRET_BYTES ? null : bytes;
}
