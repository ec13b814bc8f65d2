import type { CaContext } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import { AccountLockedError, AccountSuspendedError, InvalidCredentialsError } from '../errors.js';
import type { LoginMethod } from '../observability/metrics.js';
import { SPANS, noteRequestActor, timedSpan } from '../observability/tracing.js';
import { assertDeviceNotRevoked } from '../devices/devices.js';
import type { UserRow } from '../users/users.js';
import { findUserById, passwordHash, replacePasswordHash } from '../users/users.js';

export interface LockoutFailure {
  reason: 'invalid_credentials' | 'mfa_failed' | 'passkey_failed';
  method: 'password' | 'totp' | 'passkey';
}

/** The access log's `actor_role`: the role of the account the request signs in as. */
export function setActorRole(user: UserRow): void {
  noteRequestActor(user.tenant_id, user.role);
}

/**
 * The KDF run that makes an unknown or locked account cost what a known one does; traced like
 * a real check (`dummy`), so a slow refusal is explained in its trace.
 */
export async function dummyPasswordCheck(
  ctx: Pick<CaContext, 'passwords'>,
  password: string,
): Promise<void> {
  await timedSpan(SPANS.verifyPassword, 'duration_argon2_ms', async (span) => {
    span.setAttributes({ dummy: true, result: 'mismatch' });
    await ctx.passwords.dummyVerify(password);
  });
}

/** One failed online sign-in step, counted towards the lockout (password, second factor, passkey). */
export async function lockoutFailure(
  ctx: Pick<CaContext, 'auth' | 'clock' | 'logger' | 'metrics' | 'store'>,
  user: UserRow,
  correlationId: string,
  failure: LockoutFailure = { reason: 'invalid_credentials', method: 'password' },
): Promise<void> {
  const { lockout } = ctx.auth;
  const now = ctx.clock.now();
  setActorRole(user);
  const windowOpen =
    user.failure_window_start !== null &&
    now - Date.parse(user.failure_window_start) < lockout.windowSeconds * 1000;
  const failureCount = windowOpen ? user.failure_count + 1 : 1;
  const base = {
    aggregateId: user.user_id,
    tenantId: user.tenant_id,
    actor: { type: 'user' as const, id: user.user_id },
    correlationId,
  };
  await ctx.store.append([
    {
      ...base,
      eventType: 'identity.user.login_failed',
      payload: {
        userId: user.user_id,
        reason: failure.reason,
        offline: false,
        method: failure.method,
        failureCount,
      },
    },
    ...(failureCount >= lockout.maxFailures
      ? [
          {
            ...base,
            eventType: 'identity.user.locked',
            payload: {
              userId: user.user_id,
              reason: 'too_many_failures',
              lockedUntil: new Date(now + lockout.lockSeconds * 1000).toISOString(),
            },
          },
        ]
      : []),
  ]);
  if (failureCount >= lockout.maxFailures) {
    ctx.metrics.accountLocks.inc({ reason: 'too_many_failures' });
    ctx.logger.warn(
      { event: 'user.locked', tenantId: user.tenant_id, userId: user.user_id },
      'account locked after failures',
    );
  }
}

/** Counts a failure against the user's current row (the counter may have moved meanwhile). */
export async function recordLockoutFailure(
  ctx: Pick<CaContext, 'auth' | 'clock' | 'logger' | 'metrics' | 'store'>,
  userId: string,
  correlationId: string,
  failure?: LockoutFailure,
): Promise<void> {
  await ctx.store.transaction(async () => {
    const fresh = (await findUserById(ctx.store.db, userId)) as UserRow;
    await lockoutFailure(ctx, fresh, correlationId, failure);
  });
}

export function assertNotLocked(
  ctx: Pick<CaContext, 'clock' | 'logger' | 'metrics'>,
  user: UserRow,
  method: LoginMethod = 'password',
): void {
  if (user.locked_until !== null && user.locked_until > isoNow(ctx.clock)) {
    ctx.metrics.loginFailed('account_locked', user.tenant_id, method);
    ctx.logger.warn(
      { event: 'login.failure.account_locked', tenantId: user.tenant_id, userId: user.user_id },
      'sign-in refused',
    );
    throw new AccountLockedError('the account is locked', {
      details: { lockedUntil: user.locked_until },
    });
  }
}

/**
 * The password step of any online sign-in (password first, or a passkey with the password as
 * well): a user without a password costs the same dummy KDF run as an unknown one; a wrong
 * password counts towards the lockout.
 */
export async function verifyUserPassword(
  ctx: Pick<CaContext, 'auth' | 'clock' | 'logger' | 'metrics' | 'passwords' | 'store'>,
  user: UserRow,
  password: string,
  correlationId: string,
): Promise<string> {
  const stored = await passwordHash(ctx.store.db, user.user_id);
  if (stored === undefined) {
    await dummyPasswordCheck(ctx, password);
    ctx.logger.warn(
      { event: 'login.failure.invalid_credentials', tenantId: user.tenant_id },
      'sign-in refused',
    );
    ctx.metrics.loginFailed('unknown_account', user.tenant_id);
    throw new InvalidCredentialsError();
  }
  const verdict = await timedSpan(SPANS.verifyPassword, 'duration_argon2_ms', async (span) => {
    const outcome = await ctx.passwords.verify(password, stored);
    span.setAttribute('result', outcome.ok ? 'match' : outcome.reason);
    return outcome;
  });
  if (!verdict.ok) {
    await recordLockoutFailure(ctx, user.user_id, correlationId);
    ctx.logger.warn(
      {
        event: 'login.failure.invalid_credentials',
        tenantId: user.tenant_id,
        userId: user.user_id,
      },
      'sign-in refused',
    );
    ctx.metrics.loginFailed('invalid_credentials', user.tenant_id);
    throw new InvalidCredentialsError();
  }
  return verdict.needsRehash ? rehashPassword(ctx, user.user_id, stored, password) : stored;
}

/**
 * A hash made with another KDF or cost (scrypt before Argon2id, an older cost) is replaced by
 * one with today's, now that the plaintext is at hand. Only if the row still holds the hash
 * that just matched: a password an admin set meanwhile is not overwritten with the old one.
 * No event: the secret is the same, only its storage changed.
 */
async function rehashPassword(
  ctx: Pick<CaContext, 'clock' | 'passwords' | 'store'>,
  userId: string,
  matched: string,
  password: string,
): Promise<string> {
  const hash = await ctx.passwords.hash(password);
  if (await replacePasswordHash(ctx.store.db, userId, matched, hash, isoNow(ctx.clock)))
    return hash;
  // Replaced meanwhile: by a concurrent sign-in's rehash of this same password (the hash then
  // still matches it, and stands for the password that matched), or by a new password.
  const current = await passwordHash(ctx.store.db, userId);
  if (current === undefined || current === matched) return matched;
  return (await ctx.passwords.verify(password, current)).ok ? current : matched;
}

/** Checks after the credential proved who it is: an account that may not sign in here. */
export function assertMaySignIn(
  ctx: Pick<CaContext, 'metrics'>,
  user: UserRow,
  device: ProvenDevice | undefined,
  method: LoginMethod = 'password',
): void {
  if (user.status === 'suspended') {
    ctx.metrics.loginFailed('account_suspended', user.tenant_id, method);
    throw new AccountSuspendedError();
  }
  if (device && device.tenantId !== user.tenant_id) {
    ctx.metrics.loginFailed('device_tenant_mismatch', user.tenant_id, method);
    throw new InvalidCredentialsError();
  }
}

/** What a sign-in's credential adds to the checks made again when it is recorded. */
export interface StandingCheck {
  /** The password hash the password matched: a password changed since refuses the sign-in. */
  passwordHash?: string;
  /** A password sign-in answers a lock exactly like a wrong password (`refuseIfLocked`). */
  lockAsWrongPassword?: boolean;
  /** The passkey that proved the sign-in: removed since, it refuses it (`issueLogin`). */
  passkeyCredentialId?: string;
  /** The metrics' `method` label of a refusal. */
  method?: LoginMethod;
}

/**
 * The account's and the device's checks again, in the transaction that records a sign-in: the
 * account may have been suspended, locked or erased, its password changed, or the device
 * revoked, while the credential was being checked (a KDF run, a passkey's round trip), by this
 * instance or another. Without this, a session and an offline grant would outlive the revocation
 * or the password reset that ended the others. Returns the account as it is now.
 */
export async function assertStillMaySignIn(
  ctx: Pick<CaContext, 'clock' | 'logger' | 'metrics' | 'store'>,
  userId: string,
  device: ProvenDevice | undefined,
  check: StandingCheck = {},
): Promise<UserRow> {
  const method = check.method ?? 'password';
  const user = await findUserById(ctx.store.db, userId);
  if (!user || user.status === 'erased') {
    ctx.metrics.loginFailed('unknown_account', user?.tenant_id, method);
    throw new InvalidCredentialsError();
  }
  const locked = user.locked_until !== null && user.locked_until > isoNow(ctx.clock);
  const passwordChanged =
    check.passwordHash !== undefined &&
    (await passwordHash(ctx.store.db, userId)) !== check.passwordHash;
  if (passwordChanged || (locked && check.lockAsWrongPassword === true)) {
    const reason = passwordChanged ? 'invalid_credentials' : 'account_locked';
    ctx.metrics.loginFailed(reason, user.tenant_id, method);
    ctx.logger.warn(
      { event: `login.failure.${reason}`, tenantId: user.tenant_id, userId: user.user_id },
      'sign-in refused',
    );
    throw new InvalidCredentialsError();
  }
  assertNotLocked(ctx, user, method);
  assertMaySignIn(ctx, user, device, method);
  if (device) await assertDeviceNotRevoked(ctx, device.deviceId);
  return user;
}
