/** Argon2id cost (RFC 9106): memory m in KiB, t passes, p lanes; lengths in bytes. */
export interface Argon2idParams {
  m: number;
  t: number;
  p: number;
  keyLength: number;
  saltLength: number;
}

/** scrypt cost: N = 2^ln, block size r, parallelism p; lengths in bytes. */
export interface ScryptParams {
  ln: number;
  r: number;
  p: number;
  keyLength: number;
  saltLength: number;
}

export type ParsedPasswordHash =
  | { kdf: 'argon2id'; m: number; t: number; p: number; salt: Buffer; hash: Buffer }
  | { kdf: 'scrypt'; ln: number; r: number; p: number; salt: Buffer; hash: Buffer };

// PHC string format: decimal without leading zeros, B64 = standard alphabet without padding.
const DECIMAL = '(0|[1-9][0-9]*)';
const B64 = '([A-Za-z0-9+/]+)';
const PHC_ARGON2ID = new RegExp(
  `^\\$argon2id\\$v=19\\$m=${DECIMAL},t=${DECIMAL},p=${DECIMAL}\\$${B64}\\$${B64}$`,
);
const PHC_SCRYPT = new RegExp(
  `^\\$scrypt\\$ln=${DECIMAL},r=${DECIMAL},p=${DECIMAL}\\$${B64}\\$${B64}$`,
);
// A stored row is input: bounds keep a tampered one from making the service allocate or spin.
const LIMITS = {
  argon2id: { m: [8, 256 * 1024], t: [1, 16], p: [1, 16] },
  scrypt: { ln: [1, 24], r: [1, 64], p: [1, 16] },
  salt: [8, 64],
  hash: [16, 64],
} as const;

/** Bytes scrypt allocates for these parameters, as OpenSSL counts them against `maxmem`. */
export function scryptMemory(params: Pick<ScryptParams, 'ln' | 'r' | 'p'>): number {
  return 128 * params.r * (2 ** params.ln + 2 + params.p);
}

/** Bytes one Argon2id derivation allocates: m KiB, whatever the number of lanes. */
export function argon2idMemory(params: Pick<Argon2idParams, 'm'>): number {
  return params.m * 1024;
}

/** Bytes a derivation against this stored hash would allocate. */
export function hashMemory(parsed: ParsedPasswordHash): number {
  return parsed.kdf === 'argon2id' ? argon2idMemory(parsed) : scryptMemory(parsed);
}

/**
 * `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, the spelling of the reference implementation:
 * the parameters travel with the hash, so the cost can be raised later and old hashes still
 * verify (and get rehashed at the next successful sign-in).
 */
export function formatPasswordHash(
  params: Pick<Argon2idParams, 'm' | 't' | 'p'>,
  salt: Buffer,
  hash: Buffer,
): string {
  return `$argon2id$v=19$m=${params.m},t=${params.t},p=${params.p}$${phcBase64(salt)}$${phcBase64(hash)}`;
}

/** `$scrypt$ln=14,r=8,p=1$<salt>$<hash>`: what the CA wrote before Argon2id, still verified. */
export function formatScryptHash(
  params: Pick<ScryptParams, 'ln' | 'r' | 'p'>,
  salt: Buffer,
  hash: Buffer,
): string {
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${phcBase64(salt)}$${phcBase64(hash)}`;
}

/** Null for anything that is not a canonical Argon2id or scrypt PHC string within bounds. */
export function parsePasswordHash(stored: string): ParsedPasswordHash | null {
  const argon = PHC_ARGON2ID.exec(stored);
  const scrypt = argon === null ? PHC_SCRYPT.exec(stored) : null;
  const match = argon ?? scrypt;
  if (match === null) return null;
  const [, a = '', b = '', p = '', saltText = '', hashText = ''] = match;
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  // Round-tripping rejects spare bits and truncated groups, so one hash has one spelling.
  if (phcBase64(salt) !== saltText || phcBase64(hash) !== hashText) return null;
  const within = (value: number, [min, max]: readonly [number, number]) =>
    value >= min && value <= max;
  if (!within(salt.length, LIMITS.salt) || !within(hash.length, LIMITS.hash)) return null;
  if (argon !== null) {
    const parsed = {
      kdf: 'argon2id',
      m: Number(a),
      t: Number(b),
      p: Number(p),
      salt,
      hash,
    } as const;
    const bounds = LIMITS.argon2id;
    // RFC 9106: at least 8 KiB per lane.
    return within(parsed.m, bounds.m) &&
      within(parsed.t, bounds.t) &&
      within(parsed.p, bounds.p) &&
      parsed.m >= 8 * parsed.p
      ? parsed
      : null;
  }
  const parsed = { kdf: 'scrypt', ln: Number(a), r: Number(b), p: Number(p), salt, hash } as const;
  const bounds = LIMITS.scrypt;
  return within(parsed.ln, bounds.ln) && within(parsed.r, bounds.r) && within(parsed.p, bounds.p)
    ? parsed
    : null;
}

/**
 * True when the stored hash was not made by Argon2id with `params` (another KDF, other costs,
 * a shorter key or salt, or unreadable).
 */
export function needsRehash(stored: string, params: Argon2idParams): boolean {
  const parsed = parsePasswordHash(stored);
  return (
    parsed === null ||
    parsed.kdf !== 'argon2id' ||
    parsed.m !== params.m ||
    parsed.t !== params.t ||
    parsed.p !== params.p ||
    parsed.hash.length !== params.keyLength ||
    parsed.salt.length < params.saltLength
  );
}

function phcBase64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}
