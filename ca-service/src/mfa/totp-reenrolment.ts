import { UnauthorizedError, createJwtVerifier, importJwks } from '@lantern/shared';
import { randomBytes } from 'node:crypto';
import { signToken } from '../auth/tokens.js';
import type { AccessTokenClaims } from '../auth/tokens.js';
import type { CaContext } from '../context/ca-context.js';
import type { EventStore } from '../store/event-store.js';
import type { UserRow } from '../users/users.js';

/**
 * Issue 15: a role whose policy requires TOTP means "required once enrolled". A TOTP taken
 * away from the user (a revoked device held its seed, or an admin reset it) must not turn that
 * into "password alone until the user gets round to re-enrolling": such a user is owed a new
 * factor, and the next sign-in with the password answers `mfa_enrollment_required` with a
 * short-lived token that can only enrol one (POST /v1/mfa/totp/enroll and /confirm), never a
 * session. Removing one's own TOTP (which needs a code from it) is the user's choice and
 * stays one.
 */
const RETIRED_BY_OTHERS = ['device_revoked', 'admin_reset'];

/** Its own `typ` and audience: no access-token verifier (ours or a relying party's) takes it. */
export const ENROLLMENT_TOKEN_TYPE = 'lantern-mfa-enrollment+jwt';
export const ENROLLMENT_TOKEN_SECONDS = 300;
const audienceOf = (ctx: Pick<CaContext, 'publicUrl'>) => `${ctx.publicUrl}/v1/mfa/totp`;

/** The user's last TOTP event is a retirement they did not choose. */
export async function owesTotpEnrolment(store: EventStore, userId: string): Promise<boolean> {
  const last = await store.lastInStream(
    'user',
    userId,
    ['identity.user.mfa_enrolled', 'identity.user.mfa_removed'],
    'totp',
  );
  if (last?.eventType !== 'identity.user.mfa_removed') return false;
  const { reason } = last.payload as { reason?: string };
  return RETIRED_BY_OTHERS.includes(reason ?? '');
}

export function signEnrollmentToken(
  ctx: Pick<CaContext, 'clock' | 'publicUrl' | 'tokenKeys'>,
  user: UserRow,
): { enrollmentToken: string; expiresIn: number } {
  const iat = Math.floor(ctx.clock.now() / 1000);
  const enrollmentToken = signToken(
    ctx,
    {
      iss: ctx.publicUrl,
      aud: audienceOf(ctx),
      sub: user.user_id,
      tenant: user.tenant_id,
      scope: 'mfa_enrollment',
      iat,
      exp: iat + ENROLLMENT_TOKEN_SECONDS,
      jti: randomBytes(12).toString('base64url'),
    },
    ENROLLMENT_TOKEN_TYPE,
  );
  return { enrollmentToken, expiresIn: ENROLLMENT_TOKEN_SECONDS };
}

/**
 * The caller of an enrolment route holding an enrolment token: as a password-only caller with
 * no session, so step-up rules apply as for any such caller.
 */
export function verifyEnrollmentToken(
  ctx: Pick<CaContext, 'clock' | 'publicUrl' | 'tokenKeys'>,
  token: string | undefined,
): AccessTokenClaims | null {
  const verdict = createJwtVerifier({
    keys: importJwks(ctx.tokenKeys.jwks()),
    issuer: ctx.publicUrl,
    audience: audienceOf(ctx),
    typ: ENROLLMENT_TOKEN_TYPE,
    requiredClaims: ['sub', 'tenant', 'scope'],
    // Minted and checked by this CA's own clock: no skew to allow for.
    clockToleranceSeconds: 0,
  }).verify(token, Math.floor(ctx.clock.now() / 1000));
  if (!verdict.ok) return null;
  const { sub, tenant, scope } = verdict.claims;
  if (typeof sub !== 'string' || typeof tenant !== 'string' || scope !== 'mfa_enrollment') {
    throw new UnauthorizedError('the enrollment token is not valid (claims)');
  }
  return { sub, tenant, sid: '', amr: ['pwd'] };
}
