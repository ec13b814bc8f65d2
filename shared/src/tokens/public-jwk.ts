import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { jwkThumbprint } from './jwk-thumbprint.js';
import { keyAlgorithm } from './key-algorithm.js';
import type { PublicSigningJwk } from './jwt-types.js';
import { UnusableKeyError } from '../errors/errors.js';

/**
 * The published form of a signing key. Members are copied one by one from the public half, so a
 * private key passed in by mistake can never leak `d` into a JWKS.
 */
export function publicJwk(key: KeyObject): PublicSigningJwk {
  const alg = keyAlgorithm(key);
  if (alg === null) throw new UnusableKeyError('Only EC P-256 and Ed25519 keys can be published.');
  const exported = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  const x = String(exported.x);
  if (alg === 'ES256') {
    const y = String(exported.y);
    const kid = jwkThumbprint({ kty: 'EC', crv: 'P-256', x, y });
    return { kty: 'EC', crv: 'P-256', x, y, kid, use: 'sig', alg };
  }
  const kid = jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x });
  return { kty: 'OKP', crv: 'Ed25519', x, kid, use: 'sig', alg };
}
