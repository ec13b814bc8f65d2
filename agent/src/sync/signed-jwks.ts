import type { PublicJwks, SignedJwksClaims, UncheckedClaims } from '@lantern/shared';
import { SIGNED_JWKS_TYP, importJwks } from '@lantern/shared';
import type { CaSignedTokenVerifier } from './ca-signed-token-verifier.js';

export type SignedJwksVerdict =
  /** `jwks` undefined: signed, but no key imports; it would replace keys that work, so skip it. */
  { ok: true; jwks: PublicJwks | undefined } | { ok: false; detail: string };

/**
 * The token keys as the issuing CA signed them (`lantern-jwks+jws`, x5c checked against the
 * pinned root), for the etag the answer names. The only way keys reach this device's cache after
 * enrollment: sync answers and online sign-in both come through here.
 */
export function verifySignedJwks(
  verifier: CaSignedTokenVerifier,
  jws: string,
  etag: unknown,
  atSeconds: number,
): SignedJwksVerdict {
  const verdict = verifier.verify(jws, SIGNED_JWKS_TYP, atSeconds);
  if (!verdict.ok) return { ok: false, detail: `the token keys: ${verdict.detail}` };
  const claims: UncheckedClaims<SignedJwksClaims> = verdict.claims;
  if (claims.typ !== 'jwks' || claims.etag !== etag) {
    return { ok: false, detail: 'the token keys are not a key set for this etag' };
  }
  const set = { keys: claims.keys };
  return { ok: true, jwks: usableJwks(set) ? (set as PublicJwks) : undefined };
}

function usableJwks(jwks: unknown): boolean {
  try {
    return importJwks(jwks).size > 0;
  } catch {
    return false;
  }
}
