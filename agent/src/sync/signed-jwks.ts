import type { PublicJwks } from '@lantern/shared';
import { importJwks } from '@lantern/shared';
import type { CaSignedTokenVerifier } from './ca-signed-token-verifier.js';

const JWKS_TYP = 'lantern-jwks+jws';

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
  const keys = verifier.verify(jws, JWKS_TYP, atSeconds);
  if (!keys.ok) return { ok: false, detail: `the token keys: ${keys.detail}` };
  if (keys.claims['typ'] !== 'jwks' || keys.claims['etag'] !== etag) {
    return { ok: false, detail: 'the token keys are not a key set for this etag' };
  }
  const set = { keys: keys.claims['keys'] };
  return { ok: true, jwks: usableJwks(set) ? (set as PublicJwks) : undefined };
}

function usableJwks(jwks: unknown): boolean {
  try {
    return importJwks(jwks).size > 0;
  } catch {
    return false;
  }
}
