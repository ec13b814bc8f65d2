import type { DeviceSealedBox } from '@lantern/shared';
import {
  OFFLINE_GRANT_TYPE,
  deviceKeyThumbprint,
  newRefreshToken,
  signAccessToken,
  signToken,
} from '../auth/tokens.js';
import { storeRefreshToken } from '../auth/refresh.js';
import type { StandingCheck } from '../auth/sign-in-checks.js';
import { assertStillMaySignIn, setActorRole } from '../auth/sign-in-checks.js';
import type { CaContext } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import type { OfflineSecret, UnverifiedRisk } from '../mfa/login-mfa.js';
import { offlineGrantMfa } from '../mfa/login-mfa.js';
import { webAuthnCredential } from '../mfa/webauthn-credentials.js';
import { WebAuthnCredentialUnknownError } from '../errors.js';
import type { UserRow } from '../users/users.js';

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
  /** A risky sign-in let through without a second factor (adaptive MFA, `noFactor: allow`). */
  risk?: UnverifiedRisk;
}

/** The claims an agent reads from an offline grant (docs/architecture.md §4). */
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

/** What a whole online sign-in (password, passkey or SSO, then `issueLogin`) reads and writes. */
export type SignInContext = Pick<
  CaContext,
  | 'auth'
  | 'clock'
  | 'ids'
  | 'logger'
  | 'metrics'
  | 'passwords'
  | 'publicUrl'
  | 'secretBox'
  | 'store'
  | 'tokenKeys'
>;

/**
 * What every successful online sign-in gets, whatever proved it (password, TOTP, passkey): the
 * events, a session with its refresh token, an access token with `amr`, and with a device
 * proof an offline grant per the tenant's MFA policy.
 */
export async function issueLogin(
  ctx: Omit<SignInContext, 'passwords'>,
  user: UserRow,
  amr: string[],
  device: ProvenDevice | undefined,
  correlationId: string,
  secret: OfflineSecret = {},
  standing: StandingCheck = {},
): Promise<LoginResult> {
  const now = ctx.clock.now();
  const sessionId = ctx.ids.next('ses');
  const familyId = ctx.ids.next('evt').slice(4);
  const refreshToken = newRefreshToken(familyId);
  const refreshExpiresAt = new Date(now + ctx.auth.refreshTokenSeconds * 1000).toISOString();
  const thumbprint = device ? deviceKeyThumbprint(device) : undefined;
  const grantId = device ? ctx.ids.next('grt') : undefined;
  const actor = { type: 'user' as const, id: user.user_id };
  // Decided in the transaction that records them, from the account as it is then: its role and
  // the policy it falls under (and the TOTP secret a grant carries) are the committed ones.
  const { current, offline, grant } = await ctx.store.transaction(async () => {
    const current = await assertStillMaySignIn(ctx, user.user_id, device, standing);
    if (standing.passkeyCredentialId !== undefined)
      await assertPasskeyStillHeld(ctx, current, standing.passkeyCredentialId);
    const offline =
      device && grantId ? await offlineGrantMfa(ctx, current, device, grantId, secret) : null;
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
    await ctx.store.append([
      {
        eventType: 'identity.user.logged_in',
        eventVersion: 2,
        aggregateId: user.user_id,
        tenantId: user.tenant_id,
        actor,
        correlationId,
        payload: {
          userId: user.user_id,
          sessionId,
          tenantId: user.tenant_id,
          offline: false,
          amr,
          at: new Date(now).toISOString(),
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
    await storeRefreshToken(ctx.store.db, {
      token: refreshToken,
      familyId,
      sessionId,
      expiresAt: refreshExpiresAt,
      createdAt: new Date(now).toISOString(),
    });
    return { current, offline, grant };
  });
  const access = signAccessToken(ctx, {
    userId: user.user_id,
    tenantId: user.tenant_id,
    sessionId,
    amr,
    ...(thumbprint === undefined ? {} : { deviceThumbprint: thumbprint }),
  });
  setActorRole(current);
  ctx.logger.info(
    {
      event: 'login.success',
      tenantId: user.tenant_id,
      userId: user.user_id,
      deviceId: device?.deviceId,
    },
    'signed in',
  );
  const method = amr.includes('hwk') ? 'passkey' : amr.includes('sso') ? 'sso' : 'password';
  ctx.metrics.loginSucceeded(user.tenant_id, method);
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
      username: current.username,
      role: current.role,
      methods: grant.methods,
      ...(offline && offline.mfa.length > 0 ? { mfa: offline.mfa } : {}),
      cnf: { jkt: thumbprint },
      iat: Math.floor(now / 1000),
      exp: Math.floor(Date.parse(grant.offlineUntil) / 1000),
    };
    result.offlineGrant = {
      ...grant,
      token: signToken(ctx, { ...claims }, OFFLINE_GRANT_TYPE),
      ...(offline?.totp ? { totp: offline.totp } : {}),
    };
  }
  return result;
}

/** A passkey removed (by this instance or another) after it proved the sign-in refuses it. */
async function assertPasskeyStillHeld(
  ctx: Pick<SignInContext, 'logger' | 'metrics' | 'store'>,
  user: UserRow,
  credentialId: string,
): Promise<void> {
  if ((await webAuthnCredential(ctx.store.db, credentialId))?.user_id === user.user_id) return;
  ctx.metrics.loginFailed('unknown_account', user.tenant_id, 'passkey');
  ctx.logger.warn(
    {
      event: 'login.failure.webauthn_credential_unknown',
      tenantId: user.tenant_id,
      userId: user.user_id,
    },
    'sign-in refused: the passkey was removed while it was checked',
  );
  throw new WebAuthnCredentialUnknownError();
}
