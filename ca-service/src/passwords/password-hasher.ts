import type { ScryptOptions } from 'node:crypto';
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { Algorithm } from '@node-rs/argon2';
import { hashRaw } from '@node-rs/argon2';
import { MAX_SECRET_BYTES } from './credential-policy.js';
import type { KdfAdmissionConfig } from './kdf-admission.js';
import { KdfAdmission } from './kdf-admission.js';
import type { Argon2idParams, ParsedPasswordHash } from './password-hash-format.js';
import {
  argon2idMemory,
  formatPasswordHash,
  hashMemory,
  needsRehash,
  parsePasswordHash,
} from './password-hash-format.js';

/**
 * OWASP's first Argon2id setting (m = 19 MiB, t = 2, p = 1). Measured against scrypt at OWASP's
 * setting (N = 2^17, r = 8, p = 1, 128 MiB) on the 2-core reference machine it costs a fraction
 * of the time for the same guessing resistance (bench/NOTES.md, "Argon2id against scrypt"),
 * which is what lets a login stay under the 100 ms p95 at the load the CA admits.
 */
export const DEFAULT_ARGON2ID_PARAMS: Argon2idParams = {
  m: 19 * 1024,
  t: 2,
  p: 1,
  keyLength: 32,
  saltLength: 16,
};

// The binding's enum is a `const enum` in its typings, which isolated modules cannot inline.
const ARGON2ID = 2 as Algorithm;

export interface PasswordHasherConfig {
  /** Argon2id cost of new hashes; stored hashes keep their own (and scrypt ones still verify). */
  params?: Partial<Argon2idParams>;
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
  readonly params: Argon2idParams;
  /** Throws RangeError for input over MAX_SECRET_BYTES: run the credential policy first. */
  hash(password: string): Promise<string>;
  /**
   * Throws `LoginOverloadedError` when the admission bound is reached, before any work.
   * `needsRehash` when the match was against another KDF or cost than `params`: the caller
   * stores `hash(password)` in its place.
   */
  verify(password: string, stored: string): Promise<PasswordVerdict>;
  /**
   * Costs what `verify` costs and always fails: call it when the user does not exist, so an
   * unknown user and a wrong password cannot be told apart by timing.
   */
  dummyVerify(password: string): Promise<{ ok: false; reason: 'mismatch' }>;
}

const MISMATCH = { ok: false, reason: 'mismatch' } as const;
const EMPTY = Buffer.alloc(0);

function derive(
  password: Buffer,
  target: ParsedPasswordHash,
  keyLength: number,
  maxmem: number,
): Promise<Buffer> {
  if (target.kdf === 'argon2id') {
    return hashRaw(password, {
      algorithm: ARGON2ID,
      memoryCost: target.m,
      timeCost: target.t,
      parallelism: target.p,
      outputLen: keyLength,
      salt: target.salt,
    });
  }
  const options: ScryptOptions = { N: 2 ** target.ln, r: target.r, p: target.p, maxmem };
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(password, target.salt, keyLength, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

export function createPasswordHasher(config: PasswordHasherConfig = {}): PasswordHasher {
  const params: Argon2idParams = { ...DEFAULT_ARGON2ID_PARAMS, ...config.params };
  const maxmem = config.maxmem ?? 64 * 1024 * 1024;
  const admission = new KdfAdmission(config.admission);
  const sample = formatPasswordHash(
    params,
    Buffer.alloc(params.saltLength),
    Buffer.alloc(params.keyLength),
  );
  // The hasher must be able to read back what it writes, under its own memory bound.
  if (parsePasswordHash(sample) === null || argon2idMemory(params) > maxmem) {
    throw new RangeError(
      `unusable Argon2id parameters ${JSON.stringify(params)} (maxmem ${maxmem})`,
    );
  }
  // Checked against like a real hash: same parameters, same length, never a match in practice.
  const dummy: ParsedPasswordHash = {
    kdf: 'argon2id',
    m: params.m,
    t: params.t,
    p: params.p,
    salt: randomBytes(params.saltLength),
    hash: randomBytes(params.keyLength),
  };

  const check = async (password: string, against: ParsedPasswordHash | null) => {
    const target = against ?? dummy;
    const secret = encodeSecret(password);
    // Unreadable hashes and over-long input still pay for a full derivation: refusing them
    // early would let timing tell them apart from a wrong password.
    const derived = await admission.run(() =>
      derive(secret ?? EMPTY, target, target.hash.length, maxmem),
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
      const target = { ...dummy, salt: randomBytes(params.saltLength) };
      const key = await derive(secret, target, params.keyLength, maxmem);
      return formatPasswordHash(params, target.salt, key);
    },
    async verify(password, stored) {
      const parsed = parsePasswordHash(stored);
      const readable = parsed !== null && hashMemory(parsed) <= maxmem ? parsed : null;
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
