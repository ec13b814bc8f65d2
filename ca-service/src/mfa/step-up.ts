import type { AccessTokenClaims } from '../auth/tokens.js';
import type { CaContext } from '../context/ca-context.js';
import { StepUpRequiredError } from '../errors.js';
import type { UserRow } from '../users/users.js';
import { OTP_AMR } from './login-mfa.js';
import { hasActiveTotp } from './totp-credentials.js';
import { hasCaPasskey } from './webauthn-credentials.js';

/**
 * `amr` values that prove a second factor (RFC 8176): `otp` from a TOTP code, `mfa` from a
 * passkey sign-in that verified the user or came with the password.
 */
export const STEP_UP_AMR: readonly string[] = [OTP_AMR, 'mfa'];

export const satisfiesStepUp = (amr: readonly string[]): boolean =>
  amr.some((method) => STEP_UP_AMR.includes(method));

/** A second factor the CA itself checks: an active TOTP secret or a passkey of the web origin. */
export const hasSecondFactor = async (
  ctx: Pick<CaContext, 'store'>,
  userId: string,
): Promise<boolean> =>
  (await hasActiveTotp(ctx.store.db, userId)) || (await hasCaPasskey(ctx.store.db, userId));

/**
 * Adding or removing a passkey once the user has any second factor needs a step-up, so that a
 * stolen password session cannot swap the factors (as for TOTP in totp-enrollment.ts).
 */
export async function assertSecondFactorStepUp(
  ctx: Pick<CaContext, 'store'>,
  caller: AccessTokenClaims,
  user: UserRow,
): Promise<void> {
  if ((await hasSecondFactor(ctx, user.user_id)) && !satisfiesStepUp(caller.amr)) {
    throw new StepUpRequiredError();
  }
}
