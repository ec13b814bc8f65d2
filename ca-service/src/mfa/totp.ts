import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * HOTP (RFC 4226) and TOTP (RFC 6238) on node:crypto. Written out rather than taken from
 * otplib: the CA needs the matched time step (to refuse a replay) and per-call parameters, which
 * otplib's shared, option-carrying instances make awkward; tests check both against the RFC
 * vectors and against otplib's authenticator.
 */
export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpParameters {
  secret: Uint8Array;
  algorithm: TotpAlgorithm;
  digits: number;
  /** Seconds per step. */
  period: number;
  /** Unix time of step 0 (RFC 6238 T0). */
  t0?: number;
}

/** What authenticator apps assume when the URI says nothing else. */
export const TOTP_DEFAULTS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** 160 bits, the length RFC 4226 §4 recommends for HMAC-SHA1. */
export const TOTP_SECRET_BYTES = 20;

const HMAC_NAMES: Record<TotpAlgorithm, string> = {
  SHA1: 'sha1',
  SHA256: 'sha256',
  SHA512: 'sha512',
};

/** RFC 4226 §5.3: HMAC over the 8-byte counter, dynamic truncation, modulo 10^digits. */
export function hotp(
  secret: Uint8Array,
  counter: number,
  digits: number,
  algorithm: TotpAlgorithm = 'SHA1',
): string {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError('bad HOTP counter');
  if (!Number.isInteger(digits) || digits < 6 || digits > 10) throw new RangeError('bad digits');
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(HMAC_NAMES[algorithm], secret).update(message).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return (binary % 10 ** digits).toString().padStart(digits, '0');
}

function sameCode(expected: string, presented: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(presented, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * RFC 4226 §7.2 verification: the counter that matches in `[counter, counter + lookAhead]`,
 * or null. Each candidate is compared in constant time.
 */
export function verifyHotp(
  secret: Uint8Array,
  code: string,
  counter: number,
  options: { digits: number; algorithm?: TotpAlgorithm; lookAhead?: number },
): number | null {
  if (!/^\d+$/.test(code) || code.length !== options.digits) return null;
  for (let candidate = counter; candidate <= counter + (options.lookAhead ?? 0); candidate++) {
    if (sameCode(hotp(secret, candidate, options.digits, options.algorithm), code))
      return candidate;
  }
  return null;
}

/** RFC 6238 §4.2: T = floor((now − T0) / X). */
export function totpStep(
  params: Pick<TotpParameters, 'period' | 't0'>,
  nowSeconds: number,
): number {
  return Math.floor((nowSeconds - (params.t0 ?? 0)) / params.period);
}

export function totpAt(params: TotpParameters, nowSeconds: number): string {
  return hotp(params.secret, totpStep(params, nowSeconds), params.digits, params.algorithm);
}

export type TotpVerdict =
  { ok: true; step: number } | { ok: false; reason: 'invalid' | 'replayed' };

/**
 * Checks a code against the steps `now ± window`. A step at or below `lastUsedStep` is never
 * accepted again, even inside the window: a code is good once. `replayed` only when the code
 * matches such a used step and no fresh one (tells a replay from a typo in the logs).
 */
export function verifyTotp(
  params: TotpParameters,
  code: string,
  nowSeconds: number,
  options: { window?: number; lastUsedStep?: number | null } = {},
): TotpVerdict {
  const window = options.window ?? 1;
  const current = totpStep(params, nowSeconds);
  const lastUsed = options.lastUsedStep ?? -1;
  if (!/^\d+$/.test(code) || code.length !== params.digits) return { ok: false, reason: 'invalid' };
  let replayed = false;
  let matched: number | null = null;
  // Every candidate is computed and compared, so the timing does not say which one matched.
  for (let step = current - window; step <= current + window; step++) {
    if (step < 0) continue;
    if (!sameCode(hotp(params.secret, step, params.digits, params.algorithm), code)) continue;
    if (step <= lastUsed) replayed = true;
    else if (matched === null) matched = step;
  }
  if (matched !== null) return { ok: true, step: matched };
  return { ok: false, reason: replayed ? 'replayed' : 'invalid' };
}

export function generateTotpSecret(): Buffer {
  return randomBytes(TOTP_SECRET_BYTES);
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding, the form `otpauth://` URIs carry. */
export function base32Encode(data: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Accepts lower case, spaces and padding, as people type secrets; throws on anything else. */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new TypeError('not base32');
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/**
 * The Key URI Format of Google Authenticator (also read by FreeOTP, Aegis, 1Password …):
 * `otpauth://totp/Issuer:account?secret=…&issuer=…&algorithm=…&digits=…&period=…`.
 */
export function otpauthUri(input: {
  issuer: string;
  account: string;
  secret: Uint8Array;
  algorithm: TotpAlgorithm;
  digits: number;
  period: number;
}): string {
  const label = `${encodeURIComponent(input.issuer)}:${encodeURIComponent(input.account)}`;
  const query = new URLSearchParams({
    secret: base32Encode(input.secret),
    issuer: input.issuer,
    algorithm: input.algorithm,
    digits: String(input.digits),
    period: String(input.period),
  });
  return `otpauth://totp/${label}?${query.toString().replace(/\+/g, '%20')}`;
}
