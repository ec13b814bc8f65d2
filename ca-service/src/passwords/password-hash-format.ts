/** scrypt cost: N = 2^ln, block size r, parallelism p; lengths in bytes. */
export interface ScryptParams {
  ln: number;
  r: number;
  p: number;
  keyLength: number;
  saltLength: number;
}

export interface ParsedPasswordHash {
  ln: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

// PHC string format: decimal without leading zeros, B64 = standard alphabet without padding.
const PHC_SCRYPT =
  /^\$scrypt\$ln=(0|[1-9][0-9]?),r=([1-9][0-9]{0,2}),p=([1-9][0-9]{0,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;
const LIMITS = { ln: [1, 24], r: [1, 64], p: [1, 16], salt: [8, 64], hash: [16, 64] } as const;

/** Bytes scrypt allocates for these parameters, as OpenSSL counts them against `maxmem`. */
export function scryptMemory(params: Pick<ScryptParams, 'ln' | 'r' | 'p'>): number {
  return 128 * params.r * (2 ** params.ln + 2 + params.p);
}

/**
 * `$scrypt$ln=14,r=8,p=1$<salt>$<hash>`: the parameters travel with the hash, so the cost can be
 * raised later and old hashes still verify (and get rehashed at the next successful sign-in).
 */
export function formatPasswordHash(
  params: Pick<ScryptParams, 'ln' | 'r' | 'p'>,
  salt: Buffer,
  hash: Buffer,
): string {
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${phcBase64(salt)}$${phcBase64(hash)}`;
}

/** Null for anything that is not a canonical scrypt PHC string with parameters in range. */
export function parsePasswordHash(stored: string): ParsedPasswordHash | null {
  const match = PHC_SCRYPT.exec(stored);
  if (match === null) return null;
  const [, ln, r, p, saltText = '', hashText = ''] = match;
  const parsed = {
    ln: Number(ln),
    r: Number(r),
    p: Number(p),
    salt: Buffer.from(saltText, 'base64'),
    hash: Buffer.from(hashText, 'base64'),
  };
  // Round-tripping rejects spare bits and truncated groups, so one hash has one spelling.
  if (phcBase64(parsed.salt) !== saltText || phcBase64(parsed.hash) !== hashText) return null;
  const within = (value: number, [min, max]: readonly [number, number]) =>
    value >= min && value <= max;
  const inRange =
    within(parsed.ln, LIMITS.ln) &&
    within(parsed.r, LIMITS.r) &&
    within(parsed.p, LIMITS.p) &&
    within(parsed.salt.length, LIMITS.salt) &&
    within(parsed.hash.length, LIMITS.hash);
  return inRange ? parsed : null;
}

/** True when the stored hash was made with other parameters than `params` (or is unreadable). */
export function needsRehash(stored: string, params: ScryptParams): boolean {
  const parsed = parsePasswordHash(stored);
  return (
    parsed === null ||
    parsed.ln !== params.ln ||
    parsed.r !== params.r ||
    parsed.p !== params.p ||
    parsed.hash.length !== params.keyLength ||
    parsed.salt.length < params.saltLength
  );
}

function phcBase64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}
