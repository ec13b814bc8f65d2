import type { DeviceSealedBox, OfflineTotpSecret } from '@lantern/shared';
import { base32Encode, offlineTotpContext, sealForDevice } from '@lantern/shared';
import { trace } from '@opentelemetry/api';
import { createPublicKey } from 'node:crypto';
import type { CaContext } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import { recordedAssurance } from '../devices/device-queries.js';
import {
  MfaEnrollmentRequiredError,
  MfaFailedError,
  MfaRequiredError,
  RiskDeniedError,
} from '../errors.js';
import type { UserRow } from '../users/users.js';
import type { SecondFactor } from './mfa-policy.js';
import { SECOND_FACTORS, roleMfaPolicy } from './mfa-policy.js';
import type { RiskReason } from './risk-policy.js';
import type { RiskAssessment, RiskLevel } from './sign-in-risk.js';
import { consumeTotpCode, totpParameters, totpRow } from './totp-credentials.js';
import { owesTotpEnrolment, signEnrollmentToken } from './totp-reenrolment.js';
import { hasCaPasskey } from './webauthn-credentials.js';

/** RFC 8176 method reference a verified TOTP code adds to `amr`. */
export const OTP_AMR = 'otp';

/** What the adaptive-MFA step adds to a sign-in (mfa/sign-in-risk.ts). */
export interface AdaptiveMfa {
  risk: RiskAssessment;
  correlationId: string;
  deviceId?: string;
}

/** A risky sign-in let through without a second factor (the tenant's `noFactor: allow`). */
export interface UnverifiedRisk {
  score: number;
  level: RiskLevel;
  reasons: RiskReason[];
  unverified: true;
}

/**
 * The MFA step of an online sign-in, after the password matched (docs/architecture.md §4):
 * - no code and a second factor the user has and the role's policy requires (TOTP, or a passkey
 *   of the CA's web origin): `mfa_required` with those `methods` — the lockout counter does not
 *   move. A passkey is then sent to `POST /v1/auth/webauthn/verify` (with the password when the
 *   policy makes passkeys a second factor);
 * - adaptive MFA: a risk score at the tenant's threshold asks for any factor the user has, even
 *   where the role's policy asks for none, with the reasons and level in the answer and in an
 *   `identity.user.mfa_challenge_required` event. A user with no factor is refused
 *   (`risk_denied`) or let through flagged, per the tenant's `noFactor`;
 * - no active TOTP: a code sent anyway is ignored, and `amr` does not claim it; but when the
 *   role requires TOTP and the user's was retired by others (mfa/totp-reenrolment.ts), no
 *   session: `mfa_enrollment_required` with an enrolment-only token (after the risk check, so
 *   a sign-in refused for risk gets no enrolment token either);
 * - TOTP and a code: the code must be good and fresh (`mfa_failed` otherwise, recorded through
 *   `recordFailure` in the same transaction as the step check, so it counts towards lockout).
 *   A good code answers a risk challenge too.
 */
export async function checkLoginMfa(
  ctx: Pick<
    CaContext,
    'clock' | 'logger' | 'metrics' | 'publicUrl' | 'secretBox' | 'store' | 'tokenKeys'
  >,
  user: UserRow,
  code: string | undefined,
  recordFailure: () => Promise<unknown>,
  adaptive?: AdaptiveMfa,
): Promise<{ amr: string[]; unverifiedRisk?: UnverifiedRisk }> {
  // The `identity.domain.evaluate_mfa` span when traced, with the spec's `risk_score`.
  const span = trace.getActiveSpan();
  const risk = adaptive?.risk;
  if (risk) span?.setAttribute('risk_score', risk.score);
  const row = await totpRow(ctx.store.db, user.user_id, 'active');
  if (code === undefined || row === undefined) {
    const { required } = await roleMfaPolicy(ctx.store.db, user.tenant_id, user.role);
    // The passkey lookup only where a passkey could be asked for.
    const asked = risk?.challenge ? SECOND_FACTORS : required;
    const held = new Set<SecondFactor>();
    if (row !== undefined) held.add('totp');
    if (asked.includes('webauthn') && (await hasCaPasskey(ctx.store.db, user.user_id))) {
      held.add('webauthn');
    }
    const has = (factor: SecondFactor) => held.has(factor);
    const byRole = required.filter(has);
    const byRisk = risk?.challenge ? SECOND_FACTORS.filter(has) : [];
    const methods = SECOND_FACTORS.filter((f) => byRole.includes(f) || byRisk.includes(f));
    span?.setAttributes({
      mfa_required: methods.length > 0,
      reasons: [
        ...(byRole.length > 0 ? ['role_policy'] : []),
        ...(risk?.challenge ? risk.reasons : []),
      ],
      'mfa.methods': methods,
    });
    const unverified =
      adaptive && risk?.challenge ? await riskChallenge(ctx, user, adaptive, methods) : undefined;
    if (methods.length > 0) {
      ctx.logger.info(
        { event: 'login.mfa_required', tenantId: user.tenant_id, userId: user.user_id },
        'second factor required',
      );
      for (const factor of methods)
        ctx.metrics.mfa(factor === 'totp' ? 'totp' : 'webauthn', 'challenged');
      throw new MfaRequiredError(undefined, {
        details: {
          methods,
          ...(risk?.challenge ? { risk: { level: risk.level, reasons: risk.reasons } } : {}),
        },
      });
    }
    if (
      required.includes('totp') &&
      row === undefined &&
      (await owesTotpEnrolment(ctx.store, user.user_id))
    ) {
      ctx.logger.info(
        { event: 'login.mfa_enrollment_required', tenantId: user.tenant_id, userId: user.user_id },
        'second factor retired: enrolment required before a session',
      );
      throw new MfaEnrollmentRequiredError(undefined, {
        details: { methods: ['totp'], ...signEnrollmentToken(ctx, user) },
      });
    }
    return { amr: [], ...(unverified ? { unverifiedRisk: unverified } : {}) };
  }
  span?.setAttributes({
    mfa_required: true,
    reasons: ['totp_enrolled', ...(risk?.challenge ? risk.reasons : [])],
    'mfa.methods': ['totp'],
  });
  const verdict = await ctx.store.transaction(async () => {
    const fresh = await totpRow(ctx.store.db, user.user_id, 'active');
    const outcome = fresh
      ? await consumeTotpCode(ctx, fresh, code)
      : ({ ok: false, reason: 'invalid' } as const);
    if (!outcome.ok) await recordFailure();
    return outcome;
  });
  if (!verdict.ok) {
    ctx.metrics.mfa('totp', 'failure');
    ctx.metrics.loginFailed('mfa_failed', user.tenant_id, 'totp');
    ctx.logger.info(
      {
        event: 'login.failure.mfa_failed',
        reason: verdict.reason,
        tenantId: user.tenant_id,
        userId: user.user_id,
      },
      'sign-in refused',
    );
    throw new MfaFailedError();
  }
  ctx.metrics.mfa('totp', 'success');
  return { amr: [OTP_AMR] };
}

/**
 * The score reached the threshold: the event and the metric, whatever happens next. With no
 * factor to ask for, the tenant's `noFactor` refuses the sign-in or lets it through flagged.
 */
async function riskChallenge(
  ctx: Pick<CaContext, 'logger' | 'metrics' | 'store'>,
  user: UserRow,
  { risk, correlationId, deviceId }: AdaptiveMfa,
  methods: SecondFactor[],
): Promise<UnverifiedRisk | undefined> {
  const outcome =
    methods.length > 0
      ? 'challenged'
      : risk.policy.noFactor === 'deny'
        ? 'denied'
        : 'allowed_unverified';
  await ctx.store.append([
    {
      eventType: 'identity.user.mfa_challenge_required',
      aggregateId: user.user_id,
      tenantId: user.tenant_id,
      actor: { type: 'user', id: user.user_id },
      correlationId,
      payload: {
        userId: user.user_id,
        reasons: risk.reasons,
        riskLevel: risk.level === 'high' ? 'high' : 'medium',
        riskScore: risk.score,
        outcome,
        methods,
        ...(deviceId === undefined ? {} : { deviceId }),
      },
    },
  ]);
  for (const reason of risk.reasons) ctx.metrics.adaptiveMfaTriggered.inc({ reason });
  ctx.logger.warn(
    {
      event: 'login.risk_challenge',
      tenantId: user.tenant_id,
      userId: user.user_id,
      riskScore: risk.score,
      reasons: risk.reasons,
      outcome,
    },
    'risky sign-in',
  );
  if (outcome === 'denied') {
    ctx.metrics.loginFailed('risk_denied', user.tenant_id);
    throw new RiskDeniedError();
  }
  if (outcome === 'challenged') return undefined;
  return { score: risk.score, level: risk.level, reasons: risk.reasons, unverified: true };
}

/** What the CA knows of the secret the user signed in with, for the offline tier rule. */
export interface OfflineSecret {
  /** A PIN, or a password below the password policy: never an offline credential in software. */
  weak?: boolean;
}

/**
 * The tier the device claimed at enrollment (`software` without a row). Without attestation a
 * `hardware` claim is the agent's word; docs/architecture.md §3.5 and docs/security.md say so.
 */
export async function deviceAssurance(
  ctx: Pick<CaContext, 'store'>,
  deviceId: string,
): Promise<string> {
  return (await recordedAssurance(ctx.store.db, deviceId)) ?? 'software';
}

export interface OfflineGrantMfa {
  /** The grant's `methods`. */
  methods: string[];
  /** Second factors the agent must check offline besides the password (grant claim `mfa`). */
  mfa: string[];
  /** The TOTP secret sealed to the device key, when `methods` has `totp`. */
  totp?: DeviceSealedBox;
}

/**
 * What an offline grant for this user on this device may carry, per the tenant's policy for the
 * user's role. Null when the policy allows no offline sign-in (`password` not in `offline`).
 * TOTP goes in only with an active secret and a P-256 device key to seal it to; the sealed
 * secret opens only with the device key and beside this grant id. `webauthn` goes in whenever
 * the policy allows it offline: the passkey lives on the device (the agent registers and checks
 * it), so the CA need not have heard of it yet. A passkey is never put in the grant's `mfa`:
 * offline it is a sign-in method of its own, not a step after the password.
 */
export async function offlineGrantMfa(
  ctx: Pick<CaContext, 'secretBox' | 'store'>,
  user: UserRow,
  device: ProvenDevice,
  grantId: string,
  secret: OfflineSecret = {},
): Promise<OfflineGrantMfa | null> {
  const policy = await roleMfaPolicy(ctx.store.db, user.tenant_id, user.role);
  if (!policy.offline.includes('password')) return null;
  const hardware = (await deviceAssurance(ctx, device.deviceId)) !== 'software';
  if (!hardware && policy.offlineAssurance === 'hardware') return null;
  // A software-tier device's store can be copied and searched off the device: a PIN's few
  // thousand values fall in minutes, so only a password of the policy's strength goes offline.
  if (!hardware && secret.weak === true) return null;
  const result: OfflineGrantMfa = { methods: ['password'], mfa: [] };
  const withPasskeys = (grant: OfflineGrantMfa) => {
    if (policy.offline.includes('webauthn')) grant.methods.push('webauthn');
    return grant;
  };
  const row = policy.offline.includes('totp')
    ? await totpRow(ctx.store.db, user.user_id, 'active')
    : undefined;
  if (row === undefined) return withPasskeys(result);
  const deviceKey = createPublicKey({
    key: Buffer.from(device.certificate.subjectPublicKeyInfo),
    format: 'der',
    type: 'spki',
  });
  const p256 =
    deviceKey.asymmetricKeyType === 'ec' &&
    deviceKey.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (!p256) return withPasskeys(result);
  const params = totpParameters(ctx, row);
  const payload: OfflineTotpSecret = {
    secret: base32Encode(params.secret),
    algorithm: params.algorithm,
    digits: params.digits,
    period: params.period,
    notBeforeStep: (row.last_used_step ?? -1) + 1,
  };
  const plaintext = Buffer.from(JSON.stringify(payload), 'utf8');
  result.totp = sealForDevice(deviceKey, plaintext, offlineTotpContext(grantId));
  plaintext.fill(0);
  result.methods.push('totp');
  if (policy.required.includes('totp')) result.mfa.push('totp');
  return withPasskeys(result);
}
