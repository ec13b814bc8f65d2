import type { PublicJwks, SignedJwksClaims, UncheckedClaims } from '@lantern/shared';
import { SIGNED_JWKS_TYP, importJwks } from '@lantern/shared';
import type { EnforcementContext } from '../enforcement/enforce-revocations.js';
import { dropGrantsOfWithdrawnKeys } from '../enforcement/enforce-revocations.js';
import type { AgentStore } from '../store/agent-store.js';
import { JwksCache } from '../verify/jwks-cache.js';
import type { CaSignedTokenVerifier } from './ca-signed-token-verifier.js';
import { readSyncCursor, recordJwksEtag } from './sync-cursor.js';

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
 * Where a signed key set came from. `sync`: in a sync answer, which the signed server time binds
 * to this request (its nonce, the digest of the answer): the CA's current set, whatever its
 * signing time says. `fetched`: on its own (`/v1/ca/jwks.jws` at enrollment or when a sign-in
 * names an unknown key): anyone may have kept it and may replay it.
 */
export type SignedJwksOrigin = 'sync' | 'fetched';

export interface StoredSignedJwks {
  stored: boolean;
  grantsDropped: number;
  sessionsEnded: number;
}

/**
 * Takes a verified key set into this device's cache, in one transaction. A fetched set is
 * refused unless it was signed after the set held (or is that same set): one signed before a
 * key's revocation, replayed by a man in the middle who holds the key, must not bring it back.
 * A sync answer's set is taken as it comes, so a signing time from a CA clock that ran ahead
 * cannot lock the device out of later sets. Stored with its etag, so a set that is not the
 * CA's current one is replaced at the next sync; the grants signed by a key the set no longer
 * holds are dropped and their sessions end. A key leaves the set before its last grant expires
 * only when the CA revoked it (rotation keeps a retired key until then).
 */
export function storeSignedJwks(
  store: AgentStore,
  signed: SignedJwks,
  origin: SignedJwksOrigin,
  context: EnforcementContext,
): StoredSignedJwks {
  return store.transaction(() => {
    const cache = new JwksCache(store);
    if (origin === 'fetched') {
      const heldAt = cache.signedAt();
      const held = heldAt !== null && signed.signedAt <= heldAt;
      const same = heldAt === signed.signedAt && readSyncCursor(store).jwksEtag === signed.etag;
      if (held && !same) return { stored: false, grantsDropped: 0, sessionsEnded: 0 };
    }
    cache.save(signed.jwks, context.now, signed.signedAt);
    recordJwksEtag(store, signed.etag);
    return { stored: true, ...dropGrantsOfWithdrawnKeys(store, cache.keys(), context) };
  });
}

function usableJwks(jwks: unknown): boolean {
  try {
    return importJwks(jwks).size > 0;
  } catch {
    return false;
  }
}
