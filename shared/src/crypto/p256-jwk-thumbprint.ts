import { type KeyObject, createPublicKey } from 'node:crypto';
import { jwkThumbprint } from '../tokens/jwk-thumbprint.js';
import { isP256Key } from './p256.js';

/**
 * RFC 7638 thumbprint of a P-256 key: base64url SHA-256 of `{"crv","kty","x","y"}` in that
 * order without whitespace. Takes the KeyObject so callers holding a device or token key need
 * no JWK round trip; throws TypeError for any other key type.
 */
export function p256JwkThumbprint(key: KeyObject): string {
  if (!isP256Key(key)) throw new TypeError('p256JwkThumbprint needs an EC P-256 key');
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const { x, y } = publicKey.export({ format: 'jwk' });
  if (typeof x !== 'string' || typeof y !== 'string') throw new TypeError('EC key without x/y');
  return jwkThumbprint({ kty: 'EC', crv: 'P-256', x, y });
}
