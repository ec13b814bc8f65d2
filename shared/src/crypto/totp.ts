import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HOTP (RFC 4226) and TOTP (RFC 6238) on node:crypto, the one implementation the CA (online
 * check) and the agent (offline check) share; ca-service `mfa/totp.ts` adds secret generation and
 * the otpauth URI. Written out rather than taken from otplib: a verifier has to report the
 * matched step so that a used step is refused for good, and needs per-call parameters, which
 * otplib's shared, option-carrying instances make awkward.
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

export type TotpVerdict =
  | { ok: true; step: number }
  /** `replayed`: the code matches only steps at or below `lastUsedStep`. */
  | { ok: false; reason: 'invalid' | 'replayed' };

const HMAC_NAMES: Record<TotpAlgorithm, string> = {
  SHA1: 'sha1',
  SHA256: 'sha256',
  SHA512: 'sha512',
};

function assertDigits(digits: number): void {
  if (!Number.isInteger(digits) || digits < 6 || digits > 10) {
    throw new RangeError('OTP digits must be 6 to 10');
  }
}

/** RFC 4226 §5.3: HMAC over the 8-byte counter, dynamic truncation, modulo 10^digits. */
export function hotp(
  secret: Uint8Array,
  counter: number,
  digits: number,
  algorithm: TotpAlgorithm = 'SHA1',
): string {
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError('bad HOTP counter');
  assertDigits(digits);
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(HMAC_NAMES[algorithm], secret).update(message).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return (binary % 10 ** digits).toString().padStart(digits, '0');
}

/** Both are digit strings of the same length here, so only the content is timed, in constant time. */
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
  assertDigits(options.digits);
  if (!/^\d+$/.test(code) || code.length !== options.digits) return null;
  for (let candidate = counter; candidate <= counter + (options.lookAhead ?? 0); candidate++) {
    if (sameCode(hotp(secret, candidate, options.digits, options.algorithm), code)) {
      return candidate;
    }
  }
  return null;
}

/** RFC 6238 §4.2: T = floor((now − T0) / X). */
export function totpStep(
  params: Pick<TotpParameters, 'period' | 't0'>,
  nowSeconds: number,
): number {
  if (!Number.isInteger(params.period) || params.period < 1) {
    throw new RangeError('TOTP period must be a positive whole number of seconds');
  }
  return Math.floor((nowSeconds - (params.t0 ?? 0)) / params.period);
}

/** The code an authenticator app shows at `nowSeconds`. */
export function totpAt(params: TotpParameters, nowSeconds: number): string {
  return hotp(params.secret, totpStep(params, nowSeconds), params.digits, params.algorithm);
}

/**
 * Checks `code` against the steps `floor((now − T0) / period) ± window`. A step at or below
 * `lastUsedStep` is never accepted, even inside the window: a code is good once, and an older
 * code is no good after a newer one. `replayed` only when the code matches such a used step and
 * no fresh one (tells a replay from a typo in the logs). Every candidate is computed and
 * compared in constant time, so the timing does not say which one matched.
 */
export function verifyTotp(
  params: TotpParameters,
  code: string,
  nowSeconds: number,
  options: { window?: number; lastUsedStep?: number | null } = {},
): TotpVerdict {
  assertDigits(params.digits);
  const current = totpStep(params, nowSeconds);
  if (!/^\d+$/.test(code) || code.length !== params.digits) return { ok: false, reason: 'invalid' };
  const window = options.window ?? 1;
  const lastUsed = options.lastUsedStep ?? -1;
  let replayed = false;
  let matched: number | null = null;
  for (let step = current - window; step <= current + window; step++) {
    if (step < 0) continue;
    if (!sameCode(hotp(params.secret, step, params.digits, params.algorithm), code)) continue;
    if (step <= lastUsed) replayed = true;
    else matched ??= step;
  }
  if (matched !== null) return { ok: true, step: matched };
  return { ok: false, reason: replayed ? 'replayed' : 'invalid' };
}
