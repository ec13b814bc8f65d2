import type { PublicJwks, SignedJwksClaims, UncheckedClaims } from '@lantern/shared';
import { SIGNED_JWKS_TYP, importJwks } from '@lantern/shared';
import type { EnforcementContext } from '../enforcement/enforce-revocations.js';
import { dropGrantsOfWithdrawnKeys } from '../enforcement/enforce-revocations.js';
import type { AgentStore } from '../store/agent-store.js';
import { JwksCache } from '../verify/jwks-cache.js';
import type { CaSignedTokenVerifier } from './ca-signed-token-verifier.js';
import { recordJwksEtag } from './sync-cursor.js';

/** A signed key set that verified: its keys, the etag it was signed for, and when (seconds). */
export interface SignedJwks {
  jwks: PublicJwks;
  etag: string;
  signedAt: number;
}

export type SignedJwksVerdict =
  /** `jwks` undefined: signed, but no key imports; it would replace keys that work, so skip it. */
  ({ ok: true } & (SignedJwks | { jwks: undefined })) | { ok: false; detail: string };

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
  if (claims.typ !== 'jwks' || typeof etag !== 'string' || claims.etag !== etag) {
    return { ok: false, detail: 'the token keys are not a key set for this etag' };
  }
  if (typeof claims.iat !== 'number' || !Number.isSafeInteger(claims.iat)) {
    return { ok: false, detail: 'the token keys carry no signing time' };
  }
  const set = { keys: claims.keys };
  return usableJwks(set)
    ? { ok: true, jwks: set as PublicJwks, etag, signedAt: claims.iat }
    : { ok: true, jwks: undefined };
}

/**
 * Takes a verified key set into this device's cache, in one transaction: refused (false) when
 * the device holds a set signed later (an older one replayed, say by a man in the middle with
 * a revoked key and the set signed before its revocation); stored with its etag, so a set that
 * is not the current one is replaced at the next sync; and the grants signed by a key the set no
 * longer holds are dropped, their sessions ended. A key leaves the set before its last grant
 * expires only when the CA revoked it (rotation keeps a retired key until then).
 */
export function storeSignedJwks(
  store: AgentStore,
  signed: SignedJwks,
  context: EnforcementContext,
): boolean {
  return store.transaction(() => {
    const cache = new JwksCache(store);
    if (!cache.save(signed.jwks, context.now, signed.signedAt)) return false;
    recordJwksEtag(store, signed.etag);
    dropGrantsOfWithdrawnKeys(store, cache.keys(), context);
    return true;
  });
}

function usableJwks(jwks: unknown): boolean {
  try {
    return importJwks(jwks).size > 0;
  } catch {
    return false;
  }
}
