import { readDeviceRevocation } from '../enforcement/device-revocation.js';
import { sessionExpiry } from '../session-token/session-expiry.js';
import type { WallClockObservation } from '../time/trusted-time.js';
import type { RevocationHits } from '../verify/revocation-state.js';
import type { BindingFacts } from './binding-facts.js';
import { readBindingFacts } from './binding-facts.js';
import { DEFAULT_LOCKOUT_POLICY, LocalLockout } from './local-lockout.js';
import { startLocalSession } from './local-session.js';
import type { OfflineCredential } from './offline-credential.js';
import type { OfflineGrant } from './offline-grant.js';
import { verifyOfflineGrant } from './offline-grant.js';
import { offlineWindowEnd } from './offline-window.js';
import { passwordCredential } from './password-credential.js';
import type {
  OfflineMfaPolicy,
  SigninAgent,
  SigninInput,
  SigninOptions,
  SigninRefusal,
  SigninVerdict,
} from './signin-agent.js';
import { DEFAULT_MFA_POLICY, DEFAULT_SESSION_TTL_MS } from './signin-agent.js';
import type { LoginFailureReason, LoginMethod } from './signin-events.js';
import { SigninEvents } from './signin-events.js';
import type { SigninRefusalCode } from './signin-refusals.js';
import { statement } from '../store/statements.js';

/** RFC 8176 method reference a verified TOTP code adds to `amr`. */
const OTP_AMR = 'otp';

/** Whom the sign-in is for: a typed username, or the user a discoverable passkey named. */
export type OfflineSubject = { username: string } | { userId: string };

interface FoundGrant {
  expired: boolean;
  grant: OfflineGrant;
  /** The row's own flag, set when enforcement of a sync dropped the grant. */
  revokedFlag: boolean;
}

interface Refusal {
  code: SigninRefusalCode;
  /** When the catalogue reason is more precise than the code (a revoked user). */
  eventReason?: LoginFailureReason;
  /** The factor refused, when not the credential's. */
  method?: LoginMethod;
}

/** Offline sign-in with a password and, when the grant asks for one, a TOTP code. */
export function signInOffline(
  agent: SigninAgent,
  input: SigninInput,
  options: SigninOptions = {},
): Promise<SigninVerdict> {
  return signInOfflineWith(
    agent,
    { username: input.username },
    passwordCredential(input.password, input.totp),
    options,
  );
}

/**
 * Offline sign-in (docs/architecture.md §4): the checks in `OFFLINE_CHECK_ORDER`, refusing with the first
 * that fails — binding, revocation, clock, grant, window, lockout, then `credential`, then the
 * MFA step (a TOTP code when the grant or the MFA hook requires one; a wrong code counts towards
 * the same lockout as a wrong password). Every attempt, refused or not, is appended to the
 * outbox in the transaction that records its effect (lockout counter, used TOTP step, session).
 * Nothing is believed from a `grants` column: the grant is verified again from its JWS, against
 * the JWKS stored on this device.
 */
export async function signInOfflineWith(
  agent: SigninAgent,
  subject: OfflineSubject,
  credential: OfflineCredential,
  options: SigninOptions = {},
): Promise<SigninVerdict> {
  const facts = readBindingFacts(agent.store);
  if (facts === null) return { ok: false, mode: 'offline', code: 'not_enrolled' };
  const lockout = new LocalLockout(agent.store, { ...DEFAULT_LOCKOUT_POLICY, ...options.lockout });
  const events = new SigninEvents(agent, facts);
  // Before any window is read: this is what catches a clock set back. The mark it would raise
  // is written by the attempt's own transaction (`decided`), so an attempt commits once.
  const observation = agent.trustedTime.peekWallClock();
  const nowMs = observation.trustedNow;
  const nowSeconds = Math.floor(nowMs / 1000);
  const found = findGrant(agent, facts, subject, nowSeconds);
  const userId = found?.grant.userId;

  const refuse = (refusal: Refusal, failureCount: number, extra: Partial<SigninRefusal> = {}) => {
    if (observation.rollback) events.clockRollback(observation);
    events.loginFailed(
      refusal.eventReason ?? eventReasonOf(refusal.code),
      failureCount,
      userId,
      refusal.method ?? credential.eventMethod,
    );
    return refused(refusal.code, { ...(userId === undefined ? {} : { userId }), ...extra });
  };
  const currentFailures = () =>
    userId === undefined ? 0 : lockout.status(userId, nowMs).failureCount;
  // The attempt's one transaction: the trusted-time anchor with its effect (one fsync, and one
  // step of the TPM seal's counter). Observed again under the write lock, so a mark another
  // process raised meanwhile is never lowered, and a clock set back during the KDF is caught.
  const decided = (decide: () => SigninVerdict, wrongGuess = false): SigninVerdict =>
    agent.store.transaction(() => {
      const recorded = agent.trustedTime.observeWallClock();
      if (recorded.rollback && !observation.rollback) {
        events.clockRollback(recorded);
        // A wrong guess counts towards the lock whatever else refuses the attempt.
        if (wrongGuess && userId !== undefined) {
          const after = lockout.recordFailure(userId, nowMs);
          if (after.lockedUntil !== null) events.locked(userId, after.lockedUntil);
          return refuse({ code: 'clock_rollback' }, after.failureCount);
        }
        return refuse({ code: 'clock_rollback' }, currentFailures());
      }
      return decide();
    });

  const windowEndMs = offlineWindowEnd(agent.store, facts);
  // Read again in the final transaction: a sync may enforce a revocation during the KDF.
  const checks = (): Refusal | null =>
    firstRefusal({
      facts,
      observation,
      nowSeconds,
      found,
      hits: agent.revocations.find({
        device: facts.deviceId,
        certificate: facts.certificateSerial,
        ...(found === null
          ? {}
          : { user: found.grant.userId, grant: found.grant.grantId, key: found.grant.keyId }),
      }),
      windowEndMs,
      bindingRevoked: readDeviceRevocation(agent.store)?.revoked === true,
    });
  const early = checks();
  if (early !== null || found === null) {
    const refusal = early ?? { code: 'no_grant' };
    return decided(() => refuse(refusal, currentFailures()));
  }
  const { grant } = found;
  const failureState = lockout.status(grant.userId, nowMs);
  if (failureState.lockedUntil !== null) {
    const lockedUntil = failureState.lockedUntil;
    return decided(() => refuse({ code: 'locked' }, failureState.failureCount, { lockedUntil }));
  }
  if (!grant.methods.includes(credential.method)) {
    return decided(() => refuse({ code: 'method_not_allowed' }, failureState.failureCount));
  }
  const matched = await credential.check(agent, grant);
  if (matched === 'missing') {
    // Grant and verifier are written together; one without the other is a damaged store,
    // and what repairs it is the same as for a missing grant: one online sign-in.
    return decided(() => refuse({ code: 'no_grant' }, failureState.failureCount));
  }
  if (matched === 'hardware_locked') {
    // The TPM counts and times this lock itself; the device's own counter is not the judge.
    return decided(() => refuse({ code: 'locked' }, failureState.failureCount));
  }

  return decided(() => {
    const late = checks();
    if (late !== null) return refuse(late, lockout.status(grant.userId, nowMs).failureCount);
    // Read again under the write lock: another process may have locked the user meanwhile.
    const state = lockout.status(grant.userId, nowMs);
    if (state.lockedUntil !== null) {
      return refuse({ code: 'locked' }, state.failureCount, { lockedUntil: state.lockedUntil });
    }
    // A wrong password and a wrong code count in the same window, towards the same lock.
    const failed = (code: 'bad_credentials' | 'mfa_failed', refusal: Omit<Refusal, 'code'>) => {
      const after = lockout.recordFailure(grant.userId, nowMs);
      const verdict = refuse(
        { ...refusal, code: after.tripped ? 'locked' : code },
        after.failureCount,
        after.lockedUntil === null ? {} : { lockedUntil: after.lockedUntil },
      );
      if (after.lockedUntil !== null) events.locked(grant.userId, after.lockedUntil);
      return verdict;
    };
    if (matched === 'mismatch') {
      return failed('bad_credentials', {
        eventReason: credential.mismatchReason ?? 'invalid_credentials',
      });
    }
    const mfa = secondFactor(agent, grant, credential, nowMs, options.mfaPolicy);
    if (mfa === 'wrong_code') {
      return failed('mfa_failed', { eventReason: 'mfa_failed', method: 'totp' });
    }
    if (typeof mfa === 'string') return refuse({ code: mfa, method: 'totp' }, state.failureCount);
    const amr = [...credential.amr, ...mfa.amr];
    credential.commit?.(agent, grant);
    lockout.reset(grant.userId);
    const sessionId = agent.newSessionId();
    const expiresAt = sessionExpiry({
      nowMs,
      ttlMs: options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
      grantExpiresAtMs: grant.expiresAt * 1000,
      bindingValidUntilMs: facts.validUntilMs,
      offlineWindowEndMs: windowEndMs,
    });
    const token = startLocalSession(agent, {
      facts,
      grant,
      sessionId,
      amr,
      offline: true,
      nowMs,
      expiresAt,
    });
    events.loggedIn({
      userId: grant.userId,
      sessionId,
      grantId: grant.grantId,
      amr,
      expiresAtMs: expiresAt * 1000,
    });
    return {
      ok: true,
      mode: 'offline',
      token,
      sessionId,
      userId: grant.userId,
      username: grant.username,
      expiresAt: expiresAt * 1000,
    } satisfies SigninVerdict;
  }, matched === 'mismatch');
}

interface CheckInput {
  facts: BindingFacts;
  observation: WallClockObservation;
  nowSeconds: number;
  found: FoundGrant | null;
  hits: RevocationHits;
  windowEndMs: number;
  /** Sync enforced a revocation of this device (its feed entry may since have been pruned). */
  bindingRevoked: boolean;
}

/**
 * The checks that need no secret, in the order of docs/architecture.md §4. Windows are compared in whole seconds, as
 * the token's `exp` is: a sign-in that passes always has at least a second left to mint.
 */
function firstRefusal(input: CheckInput): Refusal | null {
  const { facts, observation, nowSeconds, found, hits } = input;
  if (observation.trustedNow < facts.validFromMs) return { code: 'binding_not_yet_valid' };
  if (nowSeconds >= Math.floor(facts.validUntilMs / 1000)) return { code: 'binding_expired' };
  if (input.bindingRevoked || hits.device !== undefined || hits.certificate !== undefined) {
    return { code: 'device_revoked' };
  }
  if (observation.rollback) return { code: 'clock_rollback' };
  if (found === null) return { code: 'no_grant' };
  if (found.expired) return { code: 'grant_expired' };
  if (found.revokedFlag || hits.grant !== undefined || hits.key !== undefined) {
    return { code: 'grant_revoked' };
  }
  // A user revoked before the grant was issued was reinstated since: the grant is newer.
  if (hits.user !== undefined && hits.user >= found.grant.issuedAt * 1000) {
    return { code: 'grant_revoked', eventReason: 'user_revoked' };
  }
  if (nowSeconds >= Math.floor(input.windowEndMs / 1000)) {
    return { code: 'offline_window_exceeded' };
  }
  return null;
}

/** The newest grant of that user that verifies; an expired one only when none is valid. */
function findGrant(
  agent: SigninAgent,
  facts: BindingFacts,
  subject: OfflineSubject,
  nowSeconds: number,
): FoundGrant | null {
  const byName = 'username' in subject;
  const rows = statement<[string], { jws: string; revoked: number }>(
    agent.store.db,
    `SELECT grant_jws AS jws, revoked FROM grants WHERE ${byName ? 'username' : 'user_id'} = ?
       ORDER BY received_at DESC`,
  ).all(byName ? subject.username : subject.userId);
  const expectations = {
    keys: agent.jwks.keys(),
    issuer: facts.issuer,
    deviceId: facts.deviceId,
    tenantId: facts.tenantId,
    thumbprint: agent.deviceKey.thumbprint(),
    formerThumbprints: statement<[number], string>(
      agent.store.db,
      'SELECT thumbprint FROM former_device_keys WHERE not_after > ?',
    )
      .pluck()
      .all(nowSeconds * 1000),
  };
  let expired: FoundGrant | null = null;
  for (const row of rows) {
    const verdict = verifyOfflineGrant(row.jws, expectations, nowSeconds);
    if (!('grant' in verdict)) continue;
    // The column only narrows the search; the signed claim is what counts.
    if (
      byName ? verdict.grant.username !== subject.username : verdict.grant.userId !== subject.userId
    )
      continue;
    const found = { expired: !verdict.ok, grant: verdict.grant, revokedFlag: row.revoked === 1 };
    if (verdict.ok) return found;
    expired ??= found;
  }
  return expired;
}

type SecondFactorOutcome =
  | { amr: string[] }
  | 'wrong_code'
  | Extract<SigninRefusalCode, 'mfa_required' | 'method_not_allowed'>;

/**
 * The MFA step (docs/architecture.md §4, after the credential), in the final transaction so that an accepted
 * step is recorded with the session. As at the CA: a code is checked whenever one is given and
 * the grant allows TOTP, and demanded only when the policy requires it; a required code that
 * this device cannot check (no secret delivered, or the grant does not allow TOTP offline) is
 * refused rather than skipped.
 */
function secondFactor(
  agent: SigninAgent,
  grant: OfflineGrant,
  credential: OfflineCredential,
  nowMs: number,
  policy: OfflineMfaPolicy = DEFAULT_MFA_POLICY,
): SecondFactorOutcome {
  if (credential.satisfiesMfa === true) return { amr: [] };
  const required = policy.requiresSecondFactor(grant);
  const code = credential.totp;
  if (code === undefined) return required ? 'mfa_required' : { amr: [] };
  if (!grant.methods.includes('totp')) return required ? 'method_not_allowed' : { amr: [] };
  const verdict = agent.totp.check(grant.userId, code, nowMs);
  if (verdict === null) return required ? 'mfa_required' : { amr: [] };
  return verdict.ok ? { amr: [OTP_AMR] } : 'wrong_code';
}

function eventReasonOf(code: SigninRefusalCode): LoginFailureReason {
  if (code === 'bad_credentials') return 'invalid_credentials';
  if (code === 'not_enrolled' || code === 'suspended' || code === 'ca_refused') {
    throw new Error(`${code} is never an offline refusal`);
  }
  return code;
}

function refused(code: SigninRefusalCode, extra: Partial<SigninRefusal>): SigninRefusal {
  return { ok: false, mode: 'offline', code, ...extra };
}
