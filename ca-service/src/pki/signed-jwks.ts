import type { Clock, PublicJwks, SignedJwksClaims } from '@lantern/shared';
import { SIGNED_JWKS_TYP, canonicalJson } from '@lantern/shared';
import { createHash } from 'node:crypto';
import { caSignedJws } from './ca-signed-jws.js';
import type { CaMaterial } from './issuing-authority.js';

/** A key set, like a page, may be stored and shown later; a stale one must not pass forever. */
const JWKS_LIFETIME_SECONDS = 7 * 86_400;

export function jwksEtag(jwks: PublicJwks): string {
  return createHash('sha256').update(canonicalJson(jwks)).digest('base64url').slice(0, 22);
}

/**
 * The token keys as the issuing CA vouches for them: `{ typ: 'jwks', iss, keys, etag, iat, exp }`.
 * Agents cache token keys only from this (sync answers, online sign-in), never from the unsigned
 * `/.well-known/jwks.json`, so a man in the middle cannot plant a key.
 */
export async function signedJwks(
  ctx: { ca: CaMaterial; clock: Clock; publicUrl: string },
  jwks: PublicJwks,
  etag: string,
): Promise<string> {
  const iat = Math.floor(ctx.clock.now() / 1000);
  const claims: SignedJwksClaims = {
    typ: 'jwks',
    iss: ctx.publicUrl,
    iat,
    exp: iat + JWKS_LIFETIME_SECONDS,
    etag,
    keys: jwks.keys,
  };
  const key = { issuingPem: ctx.ca.issuingPem, signer: ctx.ca.authority.signer };
  return caSignedJws(key, SIGNED_JWKS_TYP, claims);
}
