import type { JwtKeySet, VerifiedJwtClaims } from '@lantern/shared';
import { createJwtVerifier, isId } from '@lantern/shared';

/** `typ` the CA gives offline grants (ca-service `OFFLINE_GRANT_TYPE`). */
export const OFFLINE_GRANT_TYPE = 'lantern-offline-grant+jwt';

/** An offline grant whose signature and binding to this device were checked. */
export interface OfflineGrant {
  grantId: string;
  userId: string;
  username: string;
  tenantId: string;
  role: string;
  /** Methods allowed offline, e.g. `['password']`. */
  methods: readonly string[];
  /** Second factors required offline besides the password (claim `mfa`; none when absent). */
  mfa: readonly string[];
  /** Signed `iat` and `exp`, epoch seconds. */
  issuedAt: number;
  expiresAt: number;
  /** The CA token key that signed it. */
  keyId: string;
}

export interface GrantExpectations {
  keys: JwtKeySet;
  /** The CA's name for itself (the binding's issuer): the grant's `iss`. */
  issuer: string;
  deviceId: string;
  tenantId: string;
  /** RFC 7638 thumbprint of this device key: the grant's `cnf.jkt`. */
  thumbprint: string;
  /**
   * Keys this device held before a re-keying renewal: a grant bound to one of them was issued
   * to this device and keeps working until its own expiry.
   */
  formerThumbprints?: readonly string[];
}

export type GrantVerdict =
  | { ok: true; grant: OfflineGrant }
  /** Authentic and for this device, but past its signed `exp`. */
  | { ok: false; reason: 'expired'; grant: OfflineGrant }
  | { ok: false; reason: 'unknown_kid' | 'invalid'; detail: string };

const REQUIRED = ['sub', 'tenant', 'grt', 'username', 'role', 'methods', 'cnf', 'iat'] as const;

/**
 * Checks a grant from its compact JWS alone: CA signature (JWKS), `typ`, issuer, audience = this
 * device, tenant, `cnf.jkt` = this device key, and `exp` at `nowSeconds`. Nothing is taken from
 * the `grants` row, so an edited row (a later `offline_until`, another user) changes nothing.
 */
export function verifyOfflineGrant(
  jws: string,
  expected: GrantExpectations,
  nowSeconds: number,
  toleranceSeconds = 0,
): GrantVerdict {
  const expectation = JSON.stringify([
    expected.issuer,
    expected.deviceId,
    expected.tenantId,
    expected.thumbprint,
    expected.formerThumbprints ?? [],
    toleranceSeconds,
  ]);
  let memo = verifiedGrants.get(expected.keys);
  const known = memo?.get(jws);
  // Of every check a verified grant passed, only `exp` can fail at a later time (`iat`, `nbf`
  // only at an earlier one), so the verdict holds from then until its exp, under the same keys
  // and expectations. Revocations are not part of it: sign-in checks them at every attempt.
  if (
    known !== undefined &&
    known.expectation === expectation &&
    known.verifiedAt <= nowSeconds &&
    nowSeconds < known.grant.expiresAt + toleranceSeconds
  ) {
    return { ok: true, grant: known.grant };
  }
  const verdict = verifyUncached(jws, expected, nowSeconds, toleranceSeconds);
  if (verdict.ok && Number.isFinite(verdict.grant.expiresAt)) {
    if (!memo) {
      memo = new Map();
      verifiedGrants.set(expected.keys, memo);
    }
    if (memo.size >= MEMO_LIMIT) memo.clear();
    memo.set(jws, { expectation, verifiedAt: nowSeconds, grant: Object.freeze(verdict.grant) });
  }
  return verdict;
}

/**
 * Grants whose signature and claims verified, per key set (`JwksCache` keeps one object per
 * stored JWKS, so a rotated or replaced JWKS starts empty) and per exact JWS text (an edited
 * `grants` row is another text). Saves the ECDSA verify of every offline sign-in after the first.
 */
const verifiedGrants = new WeakMap<
  JwtKeySet,
  Map<string, { expectation: string; verifiedAt: number; grant: OfflineGrant }>
>();
const MEMO_LIMIT = 256;

function verifyUncached(
  jws: string,
  expected: GrantExpectations,
  nowSeconds: number,
  toleranceSeconds: number,
): GrantVerdict {
  const verifier = createJwtVerifier({
    keys: expected.keys,
    typ: OFFLINE_GRANT_TYPE,
    issuer: expected.issuer,
    audience: expected.deviceId,
    requiredClaims: REQUIRED,
    clockToleranceSeconds: toleranceSeconds,
  });
  let verdict = verifier.verify(jws, nowSeconds);
  let expired = false;
  if (!verdict.ok && verdict.reason === 'expired') {
    // An expired token is refused before its issuer and audience are read; checking it again
    // just before its exp tells "your grant ran out" apart from "this is not your grant".
    const exp = peekExp(jws);
    if (exp !== null) {
      verdict = verifier.verify(jws, Math.min(nowSeconds, exp - toleranceSeconds - 1));
      expired = verdict.ok;
    }
  }
  if (!verdict.ok) {
    return {
      ok: false,
      reason: verdict.reason === 'unknown_kid' ? 'unknown_kid' : 'invalid',
      detail:
        verdict.detail === undefined ? verdict.reason : `${verdict.reason}: ${verdict.detail}`,
    };
  }
  const grant = grantOf(verdict.claims, verdict.header.kid ?? '', expected);
  if (typeof grant === 'string') return { ok: false, reason: 'invalid', detail: grant };
  return expired ? { ok: false, reason: 'expired', grant } : { ok: true, grant };
}

function grantOf(
  claims: VerifiedJwtClaims,
  keyId: string,
  expected: GrantExpectations,
): OfflineGrant | string {
  const { sub, tenant, grt, username, role, methods, mfa = [], cnf, iat, exp } = claims;
  if (!isId(sub, 'usr') || !isId(grt, 'grt')) return 'sub or grt is not an id';
  if (tenant !== expected.tenantId) return 'the grant is for another tenant';
  const jkt = (cnf as { jkt?: unknown } | null)?.jkt;
  if (
    jkt !== expected.thumbprint &&
    !(typeof jkt === 'string' && (expected.formerThumbprints ?? []).includes(jkt))
  ) {
    return 'the grant is bound to another device key';
  }
  if (typeof username !== 'string' || typeof role !== 'string' || typeof iat !== 'number') {
    return 'username, role or iat has the wrong type';
  }
  if (!isNames(methods) || methods.length === 0) return 'methods is not a list of method names';
  if (!isNames(mfa)) return 'mfa is not a list of method names';
  return {
    grantId: grt,
    userId: sub,
    username,
    tenantId: tenant,
    role,
    methods,
    mfa,
    issuedAt: iat,
    expiresAt: exp,
    keyId,
  };
}

function peekExp(jws: string): number | null {
  try {
    const claims = JSON.parse(
      Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp : null;
  } catch {
    return null;
  }
}

function isNames(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
