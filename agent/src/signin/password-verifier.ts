import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt cost. Memory is 128 · N · r bytes per lane; time grows with N · r · p. */
export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

/**
 * One of OWASP's equivalent scrypt settings (N=2^15, r=8, p=3): 32 MiB, the most memory a
 * low-end school tablet can spare, with p making up the time. About 0.4 s on one laptop core.
 */
export const DEFAULT_SCRYPT_COST: ScryptCost = { N: 2 ** 15, r: 8, p: 3 };

/** Stored in `verifiers.params_json`; everything but the derived key. */
interface StoredParams {
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
}

const KEY_BYTES = 32;
const SALT_BYTES = 16;

export interface DerivedVerifier {
  /** Seal this before storing it: it is as good as the password against offline guessing. */
  key: Buffer;
  paramsJson: string;
}

/**
 * The device-local password verifier (docs/architecture.md §4), derived from the plaintext of a successful
 * online sign-in with a salt drawn here. NFC first, as the CA does, so a password typed on two
 * keyboards still matches.
 */
export async function derivePasswordVerifier(
  password: string,
  cost: ScryptCost = DEFAULT_SCRYPT_COST,
): Promise<DerivedVerifier> {
  const params: StoredParams = {
    kdf: 'scrypt',
    ...cost,
    salt: randomBytes(SALT_BYTES).toString('base64url'),
  };
  if (!acceptable(params)) throw new RangeError('scrypt cost is outside the accepted bounds');
  return { key: await derive(password, params), paramsJson: JSON.stringify(params) };
}

/**
 * Constant-time comparison with the stored key. Parameters outside the bounds (an edited row)
 * never match: too weak would be pointless, too strong would stall the agent.
 */
export async function matchesPasswordVerifier(
  password: string,
  key: Uint8Array,
  paramsJson: string,
): Promise<boolean> {
  let params: unknown;
  try {
    params = JSON.parse(paramsJson);
  } catch {
    return false;
  }
  if (!acceptable(params) || key.length !== KEY_BYTES) return false;
  const candidate = await derive(password, params);
  return timingSafeEqual(candidate, key);
}

/**
 * The KDF output for `password` under stored parameters, for a hardware gate to compare (the
 * TPM store keeps no comparable key); null when the parameters are out of bounds.
 */
export async function derivePasswordKey(
  password: string,
  paramsJson: string,
): Promise<Buffer | null> {
  let params: unknown;
  try {
    params = JSON.parse(paramsJson);
  } catch {
    return null;
  }
  return acceptable(params) ? derive(password, params) : null;
}

function acceptable(params: unknown): params is StoredParams {
  const { kdf, N, r, p, salt } = (params ?? {}) as Partial<Record<keyof StoredParams, unknown>>;
  return (
    kdf === 'scrypt' &&
    typeof N === 'number' &&
    Number.isSafeInteger(N) &&
    N >= 2 ** 14 &&
    N <= 2 ** 20 &&
    (N & (N - 1)) === 0 &&
    r === 8 &&
    typeof p === 'number' &&
    Number.isSafeInteger(p) &&
    p >= 1 &&
    p <= 16 &&
    typeof salt === 'string' &&
    Buffer.from(salt, 'base64url').length === SALT_BYTES
  );
}

function derive(password: string, params: StoredParams): Promise<Buffer> {
  const secret = Buffer.from(password.normalize('NFC'), 'utf8');
  const options = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(secret, Buffer.from(params.salt, 'base64url'), KEY_BYTES, options, (error, key) => {
      secret.fill(0);
      if (error) reject(error);
      else resolve(key);
    });
  });
}
