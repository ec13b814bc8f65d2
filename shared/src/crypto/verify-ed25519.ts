import { type KeyObject, verify } from 'node:crypto';

/** Ed25519 (RFC 8032, pure). Never throws: bad sizes, encodings or key types answer false. */
export function verifyEd25519(
  publicKey: KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.asymmetricKeyType !== 'ed25519' || signature.length !== 64) return false;
  try {
    return verify(null, data, publicKey, signature);
  } catch {
    return false;
  }
}
