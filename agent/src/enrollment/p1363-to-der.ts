import { derTagged } from '@lantern/shared';

const P256_SCALAR_BYTES = 32;

/** Minimal DER INTEGER content of an unsigned big-endian value. */
function unsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  const trimmed = Buffer.from(bytes.subarray(start));
  // A leading 1 bit would read as negative.
  return (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
}

/**
 * ES256 `r ‖ s` (what the device key store returns, as JWS wants) to the X.509 / PKCS#10
 * `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`.
 */
export function p1363ToDer(signature: Uint8Array): Buffer {
  if (signature.length !== 2 * P256_SCALAR_BYTES) {
    throw new TypeError(`a P-256 P1363 signature is 64 bytes, not ${signature.length}`);
  }
  const r = unsignedInteger(signature.subarray(0, P256_SCALAR_BYTES));
  const s = unsignedInteger(signature.subarray(P256_SCALAR_BYTES));
  return derTagged(0x30, Buffer.concat([derTagged(0x02, r), derTagged(0x02, s)]));
}
