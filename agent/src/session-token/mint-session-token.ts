import type { SessionTokenClaims } from './session-token-claims.js';
import { SESSION_TOKEN_TYPE } from './session-token-claims.js';

export interface MintSessionTokenInput {
  claims: SessionTokenClaims;
  /** base64 DER, binding certificate first, then the issuing CA. */
  x5c: readonly string[];
  /** The device key: ES256 over the signing input, 64-byte IEEE P1363. */
  sign(data: Uint8Array): Uint8Array;
}

/**
 * An offline session token: a compact JWS signed by the device key. It carries its chain, so
 * any local app can verify it with nothing but the pinned root and the revocation state.
 */
export function mintSessionToken(input: MintSessionTokenInput): string {
  if (input.claims.exp <= input.claims.iat) {
    throw new RangeError('a session token must expire after it is issued');
  }
  const header = { alg: 'ES256', typ: SESSION_TOKEN_TYPE, x5c: input.x5c };
  const signingInput = `${segment(header)}.${segment(input.claims)}`;
  const signature = Buffer.from(input.sign(Buffer.from(signingInput, 'utf8')));
  return `${signingInput}.${signature.toString('base64url')}`;
}

function segment(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}
