import type { JwtClaims } from '@lantern/shared';
import {
  UnauthorizedError,
  createJwtVerifier,
  importJwks,
  p256JwkThumbprint,
} from '@lantern/shared';
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import type { CaContext } from '../context/ca-context.js';
import { SPANS, timedSpan } from '../observability/tracing.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';

export const ACCESS_TOKEN_TYPE = 'at+jwt';
export const OFFLINE_GRANT_TYPE = 'lantern-offline-grant+jwt';
const REFRESH_FORMAT = /^lrt_([0-9A-HJKMNP-TV-Z]{26})\.([A-Za-z0-9_-]{43})$/;

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** `lrt_<family>.<secret>`: the family prefix lets a reused token be traced to its family. */
export function newRefreshToken(familyId: string): string {
  return `lrt_${familyId}.${randomBytes(32).toString('base64url')}`;
}

export function isRefreshTokenShape(token: string): boolean {
  return REFRESH_FORMAT.test(token);
}

export function deviceKeyThumbprint(device: ProvenDevice): string {
  return p256JwkThumbprint(
    createPublicKey({
      key: Buffer.from(device.certificate.subjectPublicKeyInfo),
      format: 'der',
      type: 'spki',
    }),
  );
}

export interface AccessTokenSubject {
  userId: string;
  tenantId: string;
  sessionId: string;
  amr: string[];
  deviceThumbprint?: string;
}

/** Signs with the active token key, in the spec's `identity.kms.sign_jwt` span. */
export function signToken(
  ctx: Pick<CaContext, 'tokenKeys'>,
  claims: JwtClaims,
  typ: string,
): string {
  return timedSpan(SPANS.signJwt, 'duration_ms', (span) => {
    const token = ctx.tokenKeys.sign(claims, { typ });
    span.setAttribute('kms.key_id', ctx.tokenKeys.activeKid);
    return token;
  });
}

/** RFC 9068-style access token; `cnf.jkt` binds a device-bound session to the device key. */
export function signAccessToken(
  ctx: Pick<CaContext, 'auth' | 'clock' | 'publicUrl' | 'tokenKeys'>,
  subject: AccessTokenSubject,
): { token: string; expiresIn: number } {
  const iat = Math.floor(ctx.clock.now() / 1000);
  const expiresIn = ctx.auth.accessTokenSeconds;
  const token = signToken(
    ctx,
    {
      iss: ctx.publicUrl,
      aud: ctx.auth.audience,
      sub: subject.userId,
      sid: subject.sessionId,
      tenant: subject.tenantId,
      amr: subject.amr,
      iat,
      exp: iat + expiresIn,
      jti: randomBytes(12).toString('base64url'),
      ...(subject.deviceThumbprint === undefined ? {} : { cnf: { jkt: subject.deviceThumbprint } }),
    },
    ACCESS_TOKEN_TYPE,
  );
  return { token, expiresIn };
}

/** The claims of an access token this CA signed, once verified. */
export interface AccessTokenClaims {
  sub: string;
  sid: string;
  tenant: string;
  amr: string[];
  /** Set for a device-bound session: the RFC 7638 thumbprint of the device key. */
  jkt?: string;
}

/**
 * Verifies an access token against the CA's own JWKS (so a token signed by a retired but still
 * published key passes, as it would for any relying party) and that its session is still
 * active: a logout or revocation ends the token here at once, not only at `exp`.
 */
export async function verifyAccessToken(
  ctx: Pick<CaContext, 'auth' | 'clock' | 'publicUrl' | 'store' | 'tokenKeys'>,
  token: string | undefined,
): Promise<AccessTokenClaims> {
  const verdict = createJwtVerifier({
    keys: importJwks(ctx.tokenKeys.jwks()),
    issuer: ctx.publicUrl,
    audience: ctx.auth.audience,
    typ: ACCESS_TOKEN_TYPE,
    requiredClaims: ['sub', 'sid', 'tenant', 'amr'],
  }).verify(token, Math.floor(ctx.clock.now() / 1000));
  if (!verdict.ok) throw new UnauthorizedError(`the access token is not valid (${verdict.reason})`);
  const { sub, sid, tenant, amr, cnf } = verdict.claims;
  if (
    typeof sub !== 'string' ||
    typeof sid !== 'string' ||
    typeof tenant !== 'string' ||
    !Array.isArray(amr) ||
    !amr.every((method) => typeof method === 'string')
  ) {
    throw new UnauthorizedError('the access token is not valid (claims)');
  }
  const session = (await ctx.store.db
    .prepare('SELECT status, user_id, tenant_id FROM sessions WHERE session_id = ?')
    .get(sid)) as { status: string; user_id: string; tenant_id: string } | undefined;
  if (
    !session ||
    session.status !== 'active' ||
    session.user_id !== sub ||
    session.tenant_id !== tenant
  ) {
    throw new UnauthorizedError('the session of this access token has ended');
  }
  const jkt = (cnf as { jkt?: unknown } | undefined)?.jkt;
  return { sub, sid, tenant, amr: amr as string[], ...(typeof jkt === 'string' ? { jkt } : {}) };
}
