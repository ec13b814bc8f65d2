import type { KeyObject } from 'node:crypto';
import { sign } from 'node:crypto';
import { keyAlgorithm } from './key-algorithm.js';
import type { JwsHeaderInput, JwtClaims } from './jwt-types.js';
import { UnusableKeyError } from '../errors/errors.js';

/**
 * Produces a compact JWS. ECDSA signatures are the raw 64-byte r||s that JWS requires
 * (RFC 7518 §3.4), not the DER that node:crypto emits by default.
 */
export function signJwt(claims: JwtClaims, header: JwsHeaderInput, privateKey: KeyObject): string {
  const alg = privateKey.type === 'private' ? keyAlgorithm(privateKey) : null;
  if (alg === null) {
    throw new UnusableKeyError('Tokens are signed with an EC P-256 or Ed25519 private key.');
  }
  if (Object.hasOwn(header, 'alg')) {
    throw new UnusableKeyError('The signing key decides `alg`; do not pass it in the header.');
  }
  const encodedHeader = Buffer.from(JSON.stringify({ alg, ...header })).toString('base64url');
  const encodedClaims = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signingInput = `${encodedHeader}.${encodedClaims}`;
  const signature =
    alg === 'ES256'
      ? sign('sha256', Buffer.from(signingInput), { key: privateKey, dsaEncoding: 'ieee-p1363' })
      : sign(null, Buffer.from(signingInput), privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}
