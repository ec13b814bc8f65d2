import { readDeviceRevocation } from '../enforcement/device-revocation.js';
import { readDeviceBinding } from '../enrollment/device-binding.js';
import { SealedDataInvalidError } from '../errors.js';
import { sessionExpiry } from '../session-token/session-expiry.js';
import type { WallClockObservation } from '../time/trusted-time.js';
import type { RevocationHits } from '../verify/revocation-state.js';
import type { BindingFacts } from './binding-facts.js';
import { bindingFacts } from './binding-facts.js';
import { DEFAULT_LOCKOUT_POLICY, LocalLockout } from './local-lockout.js';
import { startLocalSession } from './local-session.js';
import type { OfflineGrant } from './offline-grant.js';
import { verifyOfflineGrant } from './offline-grant.js';
import { offlineWindowEnd } from './offline-window.js';
import { matchesPasswordVerifier } from './password-verifier.js';
import { sealedColumn } from './sealed-columns.js';
import type {
  SigninAgent,
  SigninInput,
  SigninOptions,
  SigninRefusal,
  SigninVerdict,
} from './signin-agent.js';
import { DEFAULT_MFA_POLICY, DEFAULT_SESSION_TTL_MS } from './signin-agent.js';
import type { LoginFailureReason } from './signin-events.js';
import { SigninEvents } from './signin-events.js';
import type { SigninRefusalCode } from './signin-refusals.js';

const OFFLINE_AMR = ['pwd'];

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
}

/**
 * Offline sign-in (DESIGN §4): the checks in `OFFLINE_CHECK_ORDER`, refusing with the first
 * that fails. Every attempt, refused or not, is appended to the outbox in the transaction that
 * records its effect (lockout counter, session). Nothing is believed from a `grants` column:
 * the grant is verified again from its JWS, against the JWKS stored on this device.
 */
export async function signInOffline(
  agent: SigninAgent,
  input: SigninInput,
  options: SigninOptions = {},
): Promise<SigninVerdict> {
  const binding = readDeviceBinding(agent.store);
  if (binding === null) return { ok: false, mode: 'offline', code: 'not_enrolled' };
  const facts = bindingFacts(binding);
  const lockout = new LocalLockout(agent.store, { ...DEFAULT_LOCKOUT_POLICY, ...options.lockout });
  const events = new SigninEvents(agent, facts);
  // Before any window is read: this is what raises the mark, or catches a clock set back.
  const observation = agent.trustedTime.observeWallClock();
  const nowMs = observation.trustedNow;
  const nowSeconds = Math.floor(nowMs / 1000);
  const found = findGrant(agent, facts, input.username, nowSeconds);
  const userId = found?.grant.userId;

  const refuse = (refusal: Refusal, failureCount: number, extra: Partial<SigninRefusal> = {}) => {
    if (observation.rollback) events.clockRollback(observation);
    events.loginFailed(refusal.eventReason ?? eventReasonOf(refusal.code), failureCount, userId);
    return refused(refusal.code, { ...(userId === undefined ? {} : { userId }), ...extra });
  };
  const currentFailures = () =>
    userId === undefined ? 0 : lockout.status(userId, nowMs).failureCount;

  const windowEndMs = offlineWindowEnd(agent.store, binding, facts);
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
    return agent.store.transaction(() => refuse(refusal, currentFailures()));
  }
  const { grant } = found;
  const failureState = lockout.status(grant.userId, nowMs);
  if (failureState.lockedUntil !== null) {
    const lockedUntil = failureState.lockedUntil;
    return agent.store.transaction(() =>
      refuse({ code: 'locked' }, failureState.failureCount, { lockedUntil }),
    );
  }
  if (!grant.methods.includes('password')) {
    return agent.store.transaction(() =>
      refuse({ code: 'method_not_allowed' }, failureState.failureCount),
    );
  }
  const verifier = readVerifier(agent, grant.userId);
  if (verifier === null) {
    // Grant and verifier are written together; one without the other is a damaged store,
    // and what repairs it is the same as for a missing grant: one online sign-in.
    return agent.store.transaction(() => refuse({ code: 'no_grant' }, failureState.failureCount));
  }
  let matches: boolean;
  try {
    matches = await matchesPasswordVerifier(input.password, verifier.key, verifier.paramsJson);
  } finally {
    verifier.key.fill(0);
  }

  return agent.store.transaction(() => {
    const late = checks();
    if (late !== null) return refuse(late, lockout.status(grant.userId, nowMs).failureCount);
    // Read again under the write lock: another process may have locked the user meanwhile.
    const state = lockout.status(grant.userId, nowMs);
    if (state.lockedUntil !== null) {
      return refuse({ code: 'locked' }, state.failureCount, { lockedUntil: state.lockedUntil });
    }
    if (!matches) {
      const after = lockout.recordFailure(grant.userId, nowMs);
      const verdict = refuse(
        { code: after.tripped ? 'locked' : 'bad_credentials', eventReason: 'invalid_credentials' },
        after.failureCount,
        after.lockedUntil === null ? {} : { lockedUntil: after.lockedUntil },
      );
      if (after.lockedUntil !== null) events.locked(grant.userId, after.lockedUntil);
      return verdict;
    }
    const mfaPolicy = options.mfaPolicy ?? DEFAULT_MFA_POLICY;
    if (mfaPolicy.requiresSecondFactor(grant)) {
      return refuse({ code: 'mfa_required' }, state.failureCount);
    }
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
      amr: OFFLINE_AMR,
      offline: true,
      nowMs,
      expiresAt,
    });
    events.loggedIn({
      userId: grant.userId,
      sessionId,
      grantId: grant.grantId,
      amr: OFFLINE_AMR,
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
  });
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
 * The checks that need no secret, in DESIGN order. Windows are compared in whole seconds, as
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

/** The newest grant of that username that verifies; an expired one only when none is valid. */
function findGrant(
  agent: SigninAgent,
  facts: BindingFacts,
  username: string,
  nowSeconds: number,
): FoundGrant | null {
  const rows = agent.store.db
    .prepare<[string], { jws: string; revoked: number }>(
      'SELECT grant_jws AS jws, revoked FROM grants WHERE username = ? ORDER BY received_at DESC',
    )
    .all(username);
  const expectations = {
    keys: agent.jwks.keys(),
    issuer: facts.caUrl,
    deviceId: facts.deviceId,
    tenantId: facts.tenantId,
    thumbprint: agent.deviceKey.thumbprint(),
  };
  let expired: FoundGrant | null = null;
  for (const row of rows) {
    const verdict = verifyOfflineGrant(row.jws, expectations, nowSeconds);
    if (!('grant' in verdict)) continue;
    // The username column only narrows the search; the signed claim is what counts.
    if (verdict.grant.username !== username) continue;
    const found = { expired: !verdict.ok, grant: verdict.grant, revokedFlag: row.revoked === 1 };
    if (verdict.ok) return found;
    expired ??= found;
  }
  return expired;
}

function readVerifier(
  agent: SigninAgent,
  userId: string,
): { key: Buffer; paramsJson: string } | null {
  const row = agent.store.db
    .prepare<[string], { sealed: Buffer; paramsJson: string }>(
      `SELECT sealed, params_json AS paramsJson FROM verifiers
       WHERE user_id = ? AND kind = 'password' AND credential_id = ''`,
    )
    .get(userId);
  if (!row) return null;
  try {
    return {
      key: agent.dataKey.open(row.sealed, sealedColumn.passwordVerifier(userId)),
      paramsJson: row.paramsJson,
    };
  } catch (error) {
    if (error instanceof SealedDataInvalidError) return null;
    throw error;
  }
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
