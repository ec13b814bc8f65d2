import { type KeyObject, verify } from 'node:crypto';
import { isP256Key } from './p256.js';

/** `der` is the X.509 / CSR form; `ieee-p1363` (r‖s, 64 bytes) is the JWS form. */
export type EcdsaSignatureEncoding = 'der' | 'ieee-p1363';

/**
 * ECDSA P-256 / SHA-256. Never throws: a malformed signature, a P1363 value of the wrong size or
 * a key that is not P-256 all answer false, so attacker-supplied bytes cannot become a crash.
 */
export function verifyEs256(
  publicKey: KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
  encoding: EcdsaSignatureEncoding,
): boolean {
  if (!isP256Key(publicKey)) return false;
  if (encoding === 'ieee-p1363' && signature.length !== 64) return false;
  try {
    return verify('sha256', data, { key: publicKey, dsaEncoding: encoding }, signature);
  } catch {
    return false;
  }
}
