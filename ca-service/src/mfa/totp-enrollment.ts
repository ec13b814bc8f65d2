import { UnauthorizedError, base32Encode } from '@lantern/shared';
import QRCode from 'qrcode';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { lockoutFailure } from '../auth/sign-in-checks.js';
import type { AccessTokenClaims } from '../auth/tokens.js';
import {
  AccountLockedError,
  MfaFailedError,
  StepUpRequiredError,
  TotpNotPendingError,
} from '../errors.js';
import { getTenant } from '../tenants/tenant-commands.js';
import type { UserRow } from '../users/users.js';
import { getUser } from '../users/users.js';
import { hasSecondFactor, satisfiesStepUp } from './step-up.js';
import type { RoleMfaPolicy } from './mfa-policy.js';
import { roleMfaPolicy } from './mfa-policy.js';
import { otpauthUri } from './totp.js';
import { removeTotp } from './totp-removal.js';
import {
  PENDING_TOTP_SECONDS,
  consumeTotpCode,
  promotePendingTotp,
  storePendingTotp,
  totpRow,
} from './totp-credentials.js';

export const TOTP_ISSUER = 'Lantern';

/** The user an access token speaks for: still in its tenant, active and not locked. */
export async function callerUser(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  caller: AccessTokenClaims,
): Promise<UserRow> {
  let user: UserRow;
  try {
    user = await getUser(ctx, caller.sub, caller.tenant);
  } catch {
    throw new UnauthorizedError('the access token names no current user');
  }
  if (user.status !== 'active') throw new UnauthorizedError('the account is not active');
  if (user.locked_until !== null && user.locked_until > isoNow(ctx.clock)) {
    throw new AccountLockedError('the account is locked', {
      details: { lockedUntil: user.locked_until },
    });
  }
  return user;
}

/**
 * Step-up (docs/architecture.md §4, MFA policy): an action that needs it is allowed only with an access token
 * minted by a sign-in that proved a second factor (`otp` or `mfa` in `amr`). Refreshed tokens
 * carry `pwd` only, so a step-up lasts one access token (15 minutes by default), then the user signs in again.
 *
 * - Managing an active second factor (replace, remove) always needs it.
 * - Any action a user route marks as an admin action needs it when the role's policy says
 *   `stepUp` — an admin-role user without TOTP must enrol first. (Admin HTTP routes are
 *   authenticated by API keys today; a route taking user tokens for admin work calls this.)
 */
export async function assertStepUp(
  ctx: Pick<CaContext, 'store'>,
  caller: AccessTokenClaims,
  user: UserRow,
  action: 'manage_second_factor' | 'admin_action',
): Promise<void> {
  const needed =
    action === 'manage_second_factor'
      ? await hasSecondFactor(ctx, user.user_id)
      : (await roleMfaPolicy(ctx.store.db, user.tenant_id, user.role)).stepUp;
  if (needed && !satisfiesStepUp(caller.amr)) throw new StepUpRequiredError();
}

export interface TotpEnrollmentView {
  /** Shown once: scan it (as a QR code) or type `secret` into an authenticator app. */
  otpauthUri: string;
  /** `otpauthUri` as a QR code, a `data:image/png;base64,` URL an `<img>` shows as is. */
  qrCodeDataUrl: string;
  secret: string;
  algorithm: string;
  digits: number;
  period: number;
  /** Confirm with a first code (`POST /v1/mfa/totp/confirm`) before this time. */
  confirmBy: string;
}

/**
 * Starts (or restarts) an enrolment: a new secret, stored sealed as `pending`. An active secret
 * stays in force until the new one is confirmed; replacing it needs a step-up. The QR code is
 * drawn after the commit: rendering is no part of the enrolment's state.
 */
export async function startTotpEnrollment(
  ctx: Pick<CaContext, 'clock' | 'logger' | 'secretBox' | 'store'>,
  caller: AccessTokenClaims,
): Promise<TotpEnrollmentView> {
  const view = await ctx.store.transaction(async () => {
    const user = await callerUser(ctx, caller);
    await assertStepUp(ctx, caller, user, 'manage_second_factor');
    const tenant = await getTenant(ctx.store.db, user.tenant_id);
    const params = await storePendingTotp(ctx, user);
    ctx.logger.info(
      { event: 'mfa.totp.enrollment_started', tenantId: user.tenant_id, userId: user.user_id },
      'TOTP enrolment started',
    );
    return {
      otpauthUri: otpauthUri({
        issuer: TOTP_ISSUER,
        account: `${user.username}@${tenant.slug}`,
        secret: params.secret,
        algorithm: params.algorithm,
        digits: params.digits,
        period: params.period,
      }),
      secret: base32Encode(params.secret),
      algorithm: params.algorithm,
      digits: params.digits,
      period: params.period,
      confirmBy: new Date(ctx.clock.now() + PENDING_TOTP_SECONDS * 1000).toISOString(),
    };
  });
  // Error correction M and a 4-module quiet zone: what phone cameras read reliably off a screen.
  const qrCodeDataUrl = await QRCode.toDataURL(view.otpauthUri, {
    errorCorrectionLevel: 'M',
    margin: 4,
    scale: 6,
  });
  return { ...view, qrCodeDataUrl };
}

/**
 * The first good code makes the pending secret active and appends `identity.user.mfa_enrolled`
 * (kind totp), in one transaction with the used step. A wrong code counts towards the lockout.
 */
export async function confirmTotpEnrollment(
  ctx: Pick<CaContext, 'auth' | 'clock' | 'logger' | 'metrics' | 'secretBox' | 'store'>,
  caller: AccessTokenClaims,
  code: string,
  correlationId: string,
): Promise<{ userId: string; kind: 'totp'; enrolledAt: string }> {
  const outcome = await ctx.store.transaction(async () => {
    const user = await callerUser(ctx, caller);
    const row = await totpRow(ctx.store.db, user.user_id, 'pending');
    if (
      row === undefined ||
      ctx.clock.now() - Date.parse(row.created_at) > PENDING_TOTP_SECONDS * 1000
    ) {
      return { error: new TotpNotPendingError() };
    }
    const verdict = await consumeTotpCode(ctx, row, code);
    if (!verdict.ok) {
      await lockoutFailure(ctx, user, correlationId, { reason: 'mfa_failed', method: 'totp' });
      return { error: new MfaFailedError() };
    }
    await promotePendingTotp(ctx, user.user_id);
    const [event] = await ctx.store.append([
      {
        eventType: 'identity.user.mfa_enrolled',
        aggregateId: user.user_id,
        tenantId: user.tenant_id,
        actor: { type: 'user', id: user.user_id },
        correlationId,
        payload: { userId: user.user_id, kind: 'totp' },
      },
    ]);
    return { userId: user.user_id, enrolledAt: event?.occurredAt ?? isoNow(ctx.clock) };
  });
  if ('error' in outcome) throw outcome.error;
  ctx.logger.info(
    { event: 'mfa.totp.enrolled', tenantId: caller.tenant, userId: outcome.userId },
    'TOTP enrolled',
  );
  return { userId: outcome.userId, kind: 'totp', enrolledAt: outcome.enrolledAt };
}

/** The user removes their own TOTP: needs a step-up (a code from the factor being removed). */
export function removeOwnTotp(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  caller: AccessTokenClaims,
  correlationId: string,
): Promise<{ userId: string; kind: 'totp'; removed: true }> {
  return ctx.store.transaction(async () => {
    const user = await callerUser(ctx, caller);
    await assertStepUp(ctx, caller, user, 'manage_second_factor');
    return removeTotp(ctx, user, 'user', {
      actor: { type: 'user', id: user.user_id },
      correlationId,
    });
  });
}

/**
 * An admin resets a user's TOTP (lost phone). Offline grants already issued keep the old
 * secret until they expire; revoke them too when the phone may be in the wrong hands.
 */
export function resetTotp(
  ctx: Pick<CaContext, 'store'>,
  userId: string,
  tenantId: string | null,
  meta: CommandMeta,
): Promise<{ userId: string; kind: 'totp'; removed: true }> {
  return ctx.store.transaction(async () =>
    removeTotp(ctx, await getUser(ctx, userId, tenantId), 'admin_reset', meta),
  );
}

export interface MfaStatusView {
  userId: string;
  role: string;
  totp: 'none' | 'pending' | 'active';
  policy: RoleMfaPolicy;
}

export async function mfaStatus(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  caller: AccessTokenClaims,
): Promise<MfaStatusView> {
  const user = await callerUser(ctx, caller);
  const db = ctx.store.db;
  const totp = (await totpRow(db, user.user_id, 'active'))
    ? 'active'
    : (await totpRow(db, user.user_id, 'pending'))
      ? 'pending'
      : 'none';
  return {
    userId: user.user_id,
    role: user.role,
    totp,
    policy: await roleMfaPolicy(db, user.tenant_id, user.role),
  };
}
