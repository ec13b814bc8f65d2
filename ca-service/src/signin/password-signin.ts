import { LanternError } from '@lantern/shared';
import { trace } from '@opentelemetry/api';
import {
  assertStillMaySignIn,
  dummyPasswordCheck,
  lockoutFailure,
  verifyUserPassword,
} from '../auth/sign-in-checks.js';
import type { CaContext } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import { InvalidCredentialsError } from '../errors.js';
import { checkLoginMfa } from '../mfa/login-mfa.js';
import type { SignInClient } from '../mfa/sign-in-risk.js';
import { assessSignInRisk, recordIpFailure, recordSignIn } from '../mfa/sign-in-risk.js';
import {
  SPANS,
  inSpan,
  noteRequestActor,
  timedSpan,
  userIdHash,
} from '../observability/tracing.js';
import { tenantPasswordCheck } from '../tenants/tenant-password-policy.js';
import { findTenant } from '../tenants/tenant-commands.js';
import type { UserRow } from '../users/users.js';
import { findUserById, findUserByName } from '../users/users.js';
import type { LoginResult, SignInContext } from './issue-login.js';
import { issueLogin } from './issue-login.js';

export interface LoginInput {
  tenant: string;
  username: string;
  password: string;
  /** A current TOTP code, for a user with TOTP (see mfa/login-mfa.ts). */
  totp?: string;
}

/**
 * Issue 15: a username and password must not learn whether an account exists or is locked, so a
 * locked account answers exactly like an unknown one (same code, same dummy KDF run) and its
 * real password is never checked while the lock holds. Metrics and logs keep the real reason.
 */
async function refuseIfLocked(
  ctx: Pick<CaContext, 'clock' | 'logger' | 'metrics' | 'passwords'>,
  user: UserRow,
  password: string,
): Promise<void> {
  if (user.locked_until === null || user.locked_until <= isoNow(ctx.clock)) return;
  await dummyPasswordCheck(ctx, password);
  ctx.metrics.loginFailed('account_locked', user.tenant_id);
  ctx.logger.warn(
    { event: 'login.failure.account_locked', tenantId: user.tenant_id, userId: user.user_id },
    'sign-in refused',
  );
  throw new InvalidCredentialsError();
}

/**
 * docs/architecture.md §4 online sign-in. An unknown tenant or user costs one dummy KDF run and fails like a
 * wrong password, so neither the answer nor its timing says which part was wrong.
 */
export async function login(
  ctx: SignInContext,
  input: LoginInput,
  device: ProvenDevice | undefined,
  correlationId: string,
  client: SignInClient,
): Promise<LoginResult> {
  // The request's `identity.http.login` span (the spec's attributes are set on it).
  const span = trace.getActiveSpan();
  try {
    const result = await passwordLogin(ctx, input, device, correlationId, client);
    span?.setAttributes({ result: 'success', mfa_required: false });
    return result;
  } catch (error) {
    const code = error instanceof LanternError ? error.code : 'error';
    span?.setAttributes({ result: code, mfa_required: code === 'mfa_required' });
    throw error;
  }
}

async function passwordLogin(
  ctx: SignInContext,
  input: LoginInput,
  device: ProvenDevice | undefined,
  correlationId: string,
  client: SignInClient,
): Promise<LoginResult> {
  const { tenant, user } = await timedSpan(SPANS.loadUser, 'db.duration_ms', async (loading) => {
    const tenant = await findTenant(ctx.store.db, input.tenant);
    const user = tenant && (await findUserByName(ctx.store.db, tenant.tenantId, input.username));
    loading.setAttribute('db.rows', (tenant ? 1 : 0) + (user ? 1 : 0));
    return { tenant, user };
  });
  try {
    return await checkedLogin(ctx, input, device, correlationId, client, tenant, user);
  } catch (error) {
    // The `ip_failures` rule's memory: unknown, locked and wrong-password answers alike.
    if (error instanceof InvalidCredentialsError) {
      await recordIpFailure(ctx, client, tenant?.tenantId ?? input.tenant, input.username);
    }
    throw error;
  }
}

async function checkedLogin(
  ctx: SignInContext,
  input: LoginInput,
  device: ProvenDevice | undefined,
  correlationId: string,
  client: SignInClient,
  tenant: { tenantId: string } | undefined,
  user: UserRow | undefined,
): Promise<LoginResult> {
  const span = trace.getActiveSpan();
  if (tenant) noteRequestActor(tenant.tenantId);
  if (!user || user.status === 'erased') {
    await dummyPasswordCheck(ctx, input.password);
    ctx.logger.warn(
      { event: 'login.failure.invalid_credentials', tenantId: tenant?.tenantId },
      'sign-in refused',
    );
    ctx.metrics.loginFailed('unknown_account', tenant?.tenantId);
    throw new InvalidCredentialsError();
  }
  const hash = userIdHash(user.user_id, user.tenant_id);
  if (hash !== undefined) span?.setAttribute('user_id_hash', hash);
  await refuseIfLocked(ctx, user, input.password);
  const matched = await verifyUserPassword(ctx, user, input.password, correlationId);
  // Judged again now that the KDF ran, before any second-factor step could tell a guess it was
  // right: a lock or a new password that landed meanwhile answers like a wrong password. The
  // transaction that records the sign-in checks once more.
  const standing = { passwordHash: matched, lockAsWrongPassword: true };
  const current = await assertStillMaySignIn(ctx, user.user_id, device, standing);
  noteRequestActor(current.tenant_id, current.role);

  const mfa = await inSpan(SPANS.evaluateMfa, async () => {
    const risk = await assessSignInRisk(ctx, current, device, client);
    return checkLoginMfa(
      ctx,
      current,
      input.totp,
      async () =>
        lockoutFailure(
          ctx,
          (await findUserById(ctx.store.db, user.user_id)) as UserRow,
          correlationId,
          {
            reason: 'mfa_failed',
            method: 'totp',
          },
        ),
      risk && { risk, correlationId, ...(device ? { deviceId: device.deviceId } : {}) },
    );
  });
  const result = await issueLogin(
    ctx,
    current,
    ['pwd', ...mfa.amr],
    device,
    correlationId,
    {
      // Below the tenant's password strength: never an offline credential on a software-tier device.
      weak: !(await tenantPasswordCheck(ctx.store, current.tenant_id)).check(input.password).ok,
    },
    standing,
  );
  await recordSignIn(ctx, current, device, client);
  return mfa.unverifiedRisk ? { ...result, risk: mfa.unverifiedRisk } : result;
}
