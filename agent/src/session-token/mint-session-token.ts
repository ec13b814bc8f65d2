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
  const signingInput = `${headerSegment(input.x5c)}.${segment(input.claims)}`;
  const signature = Buffer.from(input.sign(Buffer.from(signingInput, 'utf8')));
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** Header segments of frozen chains (`BindingFacts.x5c`): ~2 kB of JSON and base64 each time. */
const headers = new WeakMap<readonly string[], string>();

function headerSegment(x5c: readonly string[]): string {
  const known = headers.get(x5c);
  if (known !== undefined) return known;
  const header = segment({ alg: 'ES256', typ: SESSION_TOKEN_TYPE, x5c });
  if (Object.isFrozen(x5c)) headers.set(x5c, header);
  return header;
}

function segment(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}
