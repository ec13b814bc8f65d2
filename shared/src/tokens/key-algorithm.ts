import type { KeyObject } from 'node:crypto';
import type { JwsAlgorithm } from './jwt-types.js';

/**
 * The algorithm is a property of the key, not of the token: binding them here is what makes an
 * `alg` swap in a forged header (HS256 with the public key as secret, ES256 against an Ed25519
 * key) fail before any signature maths runs.
 */
export function keyAlgorithm(key: KeyObject): JwsAlgorithm | null {
  if (key.asymmetricKeyType === 'ec') {
    return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ES256' : null;
  }
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  return null;
}
