import type { JwtKeySet, OfflineTotpSecret, VerifiedJwtClaims } from '@lantern/shared';
import {
  SealedBoxError,
  createJwtVerifier,
  isId,
  openOfflineTotp,
  unverifiedClaims,
} from '@lantern/shared';
import { CaSignedTokenVerifier } from '../sync/ca-signed-token-verifier.js';
import { storeSignedJwks, verifySignedJwks } from '../sync/signed-jwks.js';
import { DEFAULT_ROLLBACK_TOLERANCE_MS } from '../time/trusted-time.js';
import type { BindingFacts } from './binding-facts.js';
import { callCa } from './ca-call.js';
import type { OfflineGrant } from './offline-grant.js';
import { verifyOfflineGrant } from './offline-grant.js';
import type { SigninAgent } from './signin-agent.js';
import { SigninAnswerInvalidError } from '../errors.js';

/** A `POST /v1/auth/login` answer whose tokens were all verified. */
export interface LoginAnswer {
  /**
   * Null when the tenant's policy gives this user no offline sign-in. `totp`: the user's TOTP
   * secret the CA sealed to this device key, opened (only with grants that allow TOTP).
   */
  grant: { claims: OfflineGrant; jws: string; totp?: OfflineTotpSecret } | null;
  accessToken: string;
  userId: string;
  sessionId: string;
  amr: string[];
  /** The access token's signed `iat` and `exp`, epoch seconds. */
  issuedAt: number;
  accessExpiresAt: number;
  refreshToken: string;
}

const ACCESS_TOKEN_TYPE = 'at+jwt';
const ACCESS_TOKEN_AUDIENCE = 'lantern';
/** The CA's clock and ours may differ by this much when its fresh tokens are checked. */
const TOLERANCE_SECONDS = DEFAULT_ROLLBACK_TOLERANCE_MS / 1000;

type Checked = Omit<LoginAnswer, 'accessToken' | 'refreshToken'>;

/**
 * Verifies the access token and the offline grant against the CA's JWKS: signature, `typ`,
 * issuer = the CA's name for itself as this device learned it, audience, tenant, `cnf.jkt` = this device key, and that both
 * name the same user. A kid the cached JWKS does not know (the CA rotated its keys) fetches
 * the CA-signed JWKS once (checked against the pinned root `rootPem`). Anything else wrong throws `signin_answer_invalid`.
 */
export async function checkLoginAnswer(
  agent: SigninAgent,
  facts: BindingFacts,
  rootPem: string,
  body: unknown,
  nowSeconds: number,
  timeoutMs: number,
): Promise<LoginAnswer> {
  const { accessToken, refreshToken, offlineGrant } = (body ?? {}) as Record<string, unknown>;
  const grantJws = (offlineGrant as { token?: unknown } | undefined)?.token;
  if (
    typeof accessToken !== 'string' ||
    typeof refreshToken !== 'string' ||
    (offlineGrant !== undefined && typeof grantJws !== 'string')
  ) {
    throw new SigninAnswerInvalidError(
      'the answer lacks accessToken or refreshToken, or has an offlineGrant without a token',
    );
  }
  // The answer to the request just made is checked at the instant the CA signed it (its iat),
  // not at the device's trusted time: a device clock behind the CA's would find fresh tokens
  // issued in the future, and a trusted time left ahead of the CA (a slow clock corrected across
  // a reboot) would find them expired and never sign in online again. Only an iat close to the
  // CA's clock as the proof clock knows it counts, so an old answer replayed is still checked at
  // trusted time (and found expired). A forged iat fails the signature check at that instant.
  const iat = unverifiedClaims(accessToken)?.['iat'];
  const caNowSeconds = agent.proofClock.nowSeconds();
  const fresh =
    Number.isSafeInteger(iat) &&
    Math.abs((iat as number) - caNowSeconds) * 1000 <= DEFAULT_ROLLBACK_TOLERANCE_MS;
  const at = fresh ? (iat as number) : nowSeconds;
  const expected = { facts, thumbprint: agent.deviceKey.thumbprint(), nowSeconds: at };
  const check = (keys: JwtKeySet) =>
    checkTokens(keys, expected, accessToken, typeof grantJws === 'string' ? grantJws : null);
  let checked = check(agent.jwks.keys());
  let keysRefused = '';
  if (checked === 'unknown_kid') {
    // Only the key set the issuing CA signed: the unsigned /.well-known/jwks.json would let a
    // man in the middle plant a key and then sign tokens this device accepts.
    const call = await callCa(`${facts.caUrl}/v1/ca/jwks.jws`, { method: 'GET' }, timeoutMs);
    if (call.kind === 'answered' && call.status === 200) {
      const { jwks, jwksEtag } = (call.body ?? {}) as Record<string, unknown>;
      const verdict =
        typeof jwks === 'string'
          ? verifySignedJwks(new CaSignedTokenVerifier(rootPem), jwks, jwksEtag, at)
          : { ok: false as const, detail: 'the answer carries no signed key set' };
      const fetchedAt = agent.trustedTime.trustedNow();
      if (!verdict.ok) {
        keysRefused = ` (refused the key set it sent: ${verdict.detail})`;
      } else if (
        verdict.jwks !== undefined &&
        storeSignedJwks(agent.store, verdict, 'fetched', {
          deviceId: facts.deviceId,
          now: fetchedAt,
        }).stored
      ) {
        checked = check(agent.jwks.keys());
      } else if (verdict.jwks !== undefined) {
        keysRefused = ' (refused the key set it sent: older than the one this device holds)';
      }
    }
  }
  if (typeof checked === 'string') {
    throw new SigninAnswerInvalidError(
      checked === 'unknown_kid'
        ? `a token is signed by a key the CA does not publish${keysRefused}`
        : checked,
    );
  }
  const totpBox = (offlineGrant as { totp?: unknown } | undefined)?.totp;
  if (checked.grant !== null && totpBox !== undefined) {
    checked.grant.totp = openTotp(agent, totpBox, checked.grant.claims);
  }
  return { ...checked, accessToken, refreshToken };
}

/** A box that does not open for this key beside this grant is a broken answer, like a bad token. */
function openTotp(agent: SigninAgent, box: unknown, grant: OfflineGrant): OfflineTotpSecret {
  if (!grant.methods.includes('totp')) {
    throw new SigninAnswerInvalidError('the answer carries a TOTP secret for a grant without totp');
  }
  try {
    return openOfflineTotp(agent.deviceKey, box, grant.grantId);
  } catch (error) {
    if (error instanceof SealedBoxError) {
      throw new SigninAnswerInvalidError('the TOTP secret does not open with this device key');
    }
    throw error;
  }
}

interface Expected {
  facts: BindingFacts;
  thumbprint: string;
  nowSeconds: number;
}

/** The checked answer, or `'unknown_kid'`, or what was wrong. */
function checkTokens(
  keys: JwtKeySet,
  expected: Expected,
  accessToken: string,
  grantJws: string | null,
): Checked | string {
  const { facts, thumbprint, nowSeconds } = expected;
  const access = createJwtVerifier({
    keys,
    typ: ACCESS_TOKEN_TYPE,
    issuer: facts.issuer,
    audience: ACCESS_TOKEN_AUDIENCE,
    requiredClaims: ['sub', 'sid', 'tenant', 'iat'],
    clockToleranceSeconds: TOLERANCE_SECONDS,
  }).verify(accessToken, nowSeconds);
  if (!access.ok) {
    if (access.reason === 'wrong_issuer') return issuerMismatch(accessToken, facts);
    return access.reason === 'unknown_kid' ? 'unknown_kid' : `access token: ${access.reason}`;
  }
  const mismatch = accessMismatch(access.claims, facts, thumbprint);
  if (mismatch !== null) return `access token: ${mismatch}`;
  const { sub, sid, iat, exp, amr } = access.claims as VerifiedJwtClaims & {
    sub: string;
    sid: string;
    iat: number;
  };
  let grant: LoginAnswer['grant'] = null;
  if (grantJws !== null) {
    const verdict = verifyOfflineGrant(
      grantJws,
      {
        keys,
        issuer: facts.issuer,
        deviceId: facts.deviceId,
        tenantId: facts.tenantId,
        thumbprint,
      },
      nowSeconds,
      TOLERANCE_SECONDS,
    );
    if (!verdict.ok) {
      if (verdict.reason === 'unknown_kid') return 'unknown_kid';
      return verdict.reason === 'expired'
        ? 'the offline grant is already expired'
        : `offline grant: ${verdict.detail}`;
    }
    if (verdict.grant.userId !== sub) return 'the offline grant names another user';
    grant = { claims: verdict.grant, jws: grantJws };
  }
  return {
    grant,
    userId: sub,
    sessionId: sid,
    amr: Array.isArray(amr) && amr.every((item) => typeof item === 'string') ? amr : ['pwd'],
    issuedAt: iat,
    accessExpiresAt: exp,
  };
}

/** Says what to do instead of `wrong_issuer`: the CA renamed itself since this device last synced. */
function issuerMismatch(accessToken: string, facts: BindingFacts): string {
  const claimed = unverifiedClaims(accessToken)?.['iss'];
  const name = typeof claimed === 'string' ? claimed : '(no issuer)';
  const known = facts.issuer === facts.caUrl ? '' : ` and knows it as ${facts.issuer}`;
  return (
    `the CA calls itself ${name}, you enrolled through ${facts.caUrl}${known}; ` +
    `run \`lantern-agent sync\` so this device learns the CA's name from its signed answer`
  );
}

function accessMismatch(
  claims: VerifiedJwtClaims,
  facts: BindingFacts,
  thumbprint: string,
): string | null {
  if (!isId(claims.sub, 'usr')) return 'sub is not a user id';
  if (!isId(claims['sid'], 'ses')) return 'sid is not a session id';
  if (typeof claims.iat !== 'number') return 'iat is missing';
  if (claims['tenant'] !== facts.tenantId) return 'is for another tenant';
  if ((claims['cnf'] as { jkt?: unknown } | undefined)?.jkt !== thumbprint) {
    return 'is not bound to this device key';
  }
  return null;
}
