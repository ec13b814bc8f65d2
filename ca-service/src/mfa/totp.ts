import type { TotpAlgorithm } from '@lantern/shared';
import { base32Encode } from '@lantern/shared';
import { randomBytes } from 'node:crypto';

/**
 * What only the CA does with TOTP: make secrets and hand them to authenticator apps. The
 * algorithm (HOTP, TOTP with replay refusal, base32) is @lantern/shared's, the same the agent
 * checks codes with offline.
 */

/** What authenticator apps assume when the URI says nothing else. */
export const TOTP_DEFAULTS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** 160 bits, the length RFC 4226 §4 recommends for HMAC-SHA1. */
export const TOTP_SECRET_BYTES = 20;

export function generateTotpSecret(): Buffer {
  return randomBytes(TOTP_SECRET_BYTES);
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
