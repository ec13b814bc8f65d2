import type { KeyObject } from 'node:crypto';

/** True for an EC key on P-256 (public, or private which node verifies with its public half). */
export function isP256Key(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}
