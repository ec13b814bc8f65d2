import type { DeviceSealedBox } from '@lantern/shared';
import type { CaContext } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import { AccountLockedError, AccountSuspendedError, InvalidCredentialsError } from '../errors.js';
import { SPANS, inSpan } from '../observability/tracing.js';
import type { OfflineSecret } from '../mfa/login-mfa.js';
import { checkLoginMfa, offlineGrantMfa } from '../mfa/login-mfa.js';
import { passwordPolicy } from '../passwords/credential-policy.js';
import { findTenant } from '../tenants/tenant-commands.js';
import type { UserRow } from '../users/users.js';
import { findUserByName } from '../users/users.js';
import {
  OFFLINE_GRANT_TYPE,
  deviceKeyThumbprint,
  hashRefreshToken,
  newRefreshToken,
  signAccessToken,
} from './tokens.js';

export interface LoginInput {
  tenant: string;
  username: string;
  password: string;
  /** A current TOTP code, for a user with TOTP (see mfa/login-mfa.ts). */
  totp?: string;
}

export interface OfflineGrantView {
  grantId: string;
  offlineUntil: string;
  methods: string[];
  /** Compact JWS signed by a key of /.well-known/jwks.json, `typ` lantern-offline-grant+jwt. */
  token: string;
  /** When `methods` has `totp`: the TOTP secret sealed to the device key (`openOfflineTotp`). */
  totp?: DeviceSealedBox;
}

export interface LoginResult {
  tokenType: 'Bearer';
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  sessionId: string;
  userId: string;
  tenantId: string;
  offlineGrant?: OfflineGrantView;
}

/** The claims an agent reads from an offline grant (DESIGN §4). */
export interface OfflineGrantClaims {
  iss: string;
  sub: string;
  aud: string;
  tenant: string;
  grt: string;
  username: string;
  role: string;
  methods: string[];
  /** Second factors the agent must check offline besides the password (tenant MFA policy). */
  mfa?: string[];
  cnf: { jkt: string };
  iat: number;
  exp: number;
}

export interface LockoutFailure {
  reason: 'invalid_credentials' | 'mfa_failed' | 'passkey_failed';
  method: 'password' | 'totp' | 'passkey';
}

/** One failed online sign-in step, counted towards the lockout (password, second factor, passkey). */
export function lockoutFailure(
  ctx: CaContext,
  user: UserRow,
  correlationId: string,
  failure: LockoutFailure = { reason: 'invalid_credentials', method: 'password' },
): void {
  const { lockout } = ctx.auth;
  const now = ctx.clock.now();
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
  ctx.store.append([
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
export function recordLockoutFailure(
  ctx: CaContext,
  userId: string,
  correlationId: string,
  failure?: LockoutFailure,
): void {
  ctx.store.transaction(() => {
    const fresh = ctx.store.db
      .prepare('SELECT * FROM users WHERE user_id = ?')
      .get(userId) as UserRow;
    lockoutFailure(ctx, fresh, correlationId, failure);
  });
}

export function assertNotLocked(ctx: CaContext, user: UserRow): void {
  if (user.locked_until !== null && user.locked_until > isoNow(ctx.clock)) {
    ctx.metrics.loginFailed('account_locked', user.tenant_id);
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
 * Issue 15: a username and password must not learn whether an account exists or is locked, so a
 * locked account answers exactly like an unknown one (same code, same dummy KDF run) and its
 * real password is never checked while the lock holds. Metrics and logs keep the real reason.
 */
async function refuseIfLocked(ctx: CaContext, user: UserRow, password: string): Promise<void> {
  if (user.locked_until === null || user.locked_until <= isoNow(ctx.clock)) return;
  await ctx.passwords.dummyVerify(password);
  ctx.metrics.loginFailed('account_locked', user.tenant_id);
  ctx.logger.warn(
    { event: 'login.failure.account_locked', tenantId: user.tenant_id, userId: user.user_id },
    'sign-in refused',
  );
  throw new InvalidCredentialsError();
}

/**
 * The password step of any online sign-in (password first, or a passkey with the password as
 * well): a user without a password costs the same dummy KDF run as an unknown one; a wrong
 * password counts towards the lockout.
 */
export async function verifyUserPassword(
  ctx: CaContext,
  user: UserRow,
  password: string,
  correlationId: string,
): Promise<void> {
  const stored = ctx.store.db
    .prepare("SELECT hash FROM credentials WHERE user_id = ? AND kind = 'password'")
    .get(user.user_id) as { hash: string } | undefined;
  if (!stored) {
    await ctx.passwords.dummyVerify(password);
    ctx.logger.warn(
      { event: 'login.failure.invalid_credentials', tenantId: user.tenant_id },
      'sign-in refused',
    );
    ctx.metrics.loginFailed('unknown_account', user.tenant_id);
    throw new InvalidCredentialsError();
  }
  const verdict = await inSpan(SPANS.verifyPassword, () =>
    ctx.passwords.verify(password, stored.hash),
  );
  if (!verdict.ok) {
    recordLockoutFailure(ctx, user.user_id, correlationId);
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
  if (verdict.needsRehash) await rehashPassword(ctx, user.user_id, stored.hash, password);
}

/**
 * A hash made with another KDF or cost (scrypt before Argon2id, an older cost) is replaced by
 * one with today's, now that the plaintext is at hand. Only if the row still holds the hash
 * that just matched: a password an admin set meanwhile is not overwritten with the old one.
 * No event: the secret is the same, only its storage changed.
 */
async function rehashPassword(
  ctx: CaContext,
  userId: string,
  matched: string,
  password: string,
): Promise<void> {
  const hash = await ctx.passwords.hash(password);
  ctx.store.db
    .prepare(
      "UPDATE credentials SET hash = ?, updated_at = ? WHERE user_id = ? AND kind = 'password' AND hash = ?",
    )
    .run(hash, isoNow(ctx.clock), userId, matched);
}

/** Checks after the credential proved who it is: an account that may not sign in here. */
export function assertMaySignIn(
  ctx: CaContext,
  user: UserRow,
  device: ProvenDevice | undefined,
): void {
  if (user.status === 'suspended') {
    ctx.metrics.loginFailed('account_suspended', user.tenant_id);
    throw new AccountSuspendedError();
  }
  if (device && device.tenantId !== user.tenant_id) {
    ctx.metrics.loginFailed('device_tenant_mismatch', user.tenant_id);
    throw new InvalidCredentialsError();
  }
}

/**
 * DESIGN §4 online sign-in. An unknown tenant or user costs one dummy KDF run and fails like a
 * wrong password, so neither the answer nor its timing says which part was wrong.
 */
export async function login(
  ctx: CaContext,
  input: LoginInput,
  device: ProvenDevice | undefined,
  correlationId: string,
): Promise<LoginResult> {
  const tenant = findTenant(ctx.store.db, input.tenant);
  const user = tenant && findUserByName(ctx.store.db, tenant.tenantId, input.username);
  if (!user || user.status === 'erased') {
    await ctx.passwords.dummyVerify(input.password);
    ctx.logger.warn(
      { event: 'login.failure.invalid_credentials', tenantId: tenant?.tenantId },
      'sign-in refused',
    );
    ctx.metrics.loginFailed('unknown_account', tenant?.tenantId);
    throw new InvalidCredentialsError();
  }
  await refuseIfLocked(ctx, user, input.password);
  await verifyUserPassword(ctx, user, input.password, correlationId);
  assertMaySignIn(ctx, user, device);

  const mfa = checkLoginMfa(ctx, user, input.totp, () =>
    lockoutFailure(
      ctx,
      ctx.store.db.prepare('SELECT * FROM users WHERE user_id = ?').get(user.user_id) as UserRow,
      correlationId,
      { reason: 'mfa_failed', method: 'totp' },
    ),
  );
  return issueLogin(ctx, user, ['pwd', ...mfa.amr], device, correlationId, {
    weak: !passwordPolicy().check(input.password).ok,
  });
}

/**
 * What every successful online sign-in gets, whatever proved it (password, TOTP, passkey): the
 * events, a session with its refresh token, an access token with `amr`, and with a device
 * proof an offline grant per the tenant's MFA policy.
 */
export function issueLogin(
  ctx: CaContext,
  user: UserRow,
  amr: string[],
  device: ProvenDevice | undefined,
  correlationId: string,
  secret: OfflineSecret = {},
): LoginResult {
  const now = ctx.clock.now();
  const sessionId = ctx.ids.next('ses');
  const familyId = ctx.ids.next('evt').slice(4);
  const refreshToken = newRefreshToken(familyId);
  const refreshExpiresAt = new Date(now + ctx.auth.refreshTokenSeconds * 1000).toISOString();
  const thumbprint = device ? deviceKeyThumbprint(device) : undefined;
  const grantId = device ? ctx.ids.next('grt') : undefined;
  const offline = device && grantId ? offlineGrantMfa(ctx, user, device, grantId, secret) : null;
  const grant =
    device && grantId && offline
      ? {
          grantId,
          methods: offline.methods,
          offlineUntil: new Date(
            Math.min(
              now + ctx.auth.maxOfflineSeconds * 1000,
              device.certificate.notAfter.getTime(),
            ),
          ).toISOString(),
        }
      : undefined;
  const actor = { type: 'user' as const, id: user.user_id };
  ctx.store.transaction(() => {
    ctx.store.append([
      {
        eventType: 'identity.user.logged_in',
        aggregateId: user.user_id,
        tenantId: user.tenant_id,
        actor,
        correlationId,
        payload: {
          userId: user.user_id,
          sessionId,
          offline: false,
          amr,
          ...(device ? { deviceId: device.deviceId } : {}),
        },
      },
      {
        eventType: 'identity.session.created',
        aggregateId: sessionId,
        expectedVersion: 0,
        tenantId: user.tenant_id,
        actor,
        correlationId,
        payload: {
          sessionId,
          userId: user.user_id,
          offline: false,
          expiresAt: refreshExpiresAt,
          familyId,
          ...(device ? { deviceId: device.deviceId } : {}),
        },
      },
      ...(grant && device
        ? [
            {
              eventType: 'identity.grant.issued',
              aggregateId: grant.grantId,
              expectedVersion: 0,
              tenantId: user.tenant_id,
              actor,
              correlationId,
              payload: {
                grantId: grant.grantId,
                userId: user.user_id,
                deviceId: device.deviceId,
                methods: grant.methods,
                offlineUntil: grant.offlineUntil,
                sessionId,
              },
            },
          ]
        : []),
    ]);
    ctx.store.db
      .prepare(
        "INSERT INTO refresh_tokens (token_hash, family_id, session_id, status, expires_at, created_at) VALUES (?, ?, ?, 'active', ?, ?)",
      )
      .run(
        hashRefreshToken(refreshToken),
        familyId,
        sessionId,
        refreshExpiresAt,
        new Date(now).toISOString(),
      );
  });
  const access = signAccessToken(ctx, {
    userId: user.user_id,
    tenantId: user.tenant_id,
    sessionId,
    amr,
    ...(thumbprint === undefined ? {} : { deviceThumbprint: thumbprint }),
  });
  ctx.logger.info(
    {
      event: 'login.success',
      tenantId: user.tenant_id,
      userId: user.user_id,
      deviceId: device?.deviceId,
    },
    'signed in',
  );
  ctx.metrics.loginSucceeded(user.tenant_id, amr.includes('hwk') ? 'passkey' : 'password');
  if (amr.includes('hwk')) ctx.metrics.mfa('webauthn', 'success');
  const result: LoginResult = {
    tokenType: 'Bearer',
    accessToken: access.token,
    expiresIn: access.expiresIn,
    refreshToken,
    sessionId,
    userId: user.user_id,
    tenantId: user.tenant_id,
  };
  if (grant && device && thumbprint) {
    const claims: OfflineGrantClaims = {
      iss: ctx.publicUrl,
      sub: user.user_id,
      aud: device.deviceId,
      tenant: user.tenant_id,
      grt: grant.grantId,
      username: user.username,
      role: user.role,
      methods: grant.methods,
      ...(offline && offline.mfa.length > 0 ? { mfa: offline.mfa } : {}),
      cnf: { jkt: thumbprint },
      iat: Math.floor(now / 1000),
      exp: Math.floor(Date.parse(grant.offlineUntil) / 1000),
    };
    result.offlineGrant = {
      ...grant,
      token: ctx.tokenKeys.sign({ ...claims }, { typ: OFFLINE_GRANT_TYPE }),
      ...(offline?.totp ? { totp: offline.totp } : {}),
    };
  }
  return result;
}
