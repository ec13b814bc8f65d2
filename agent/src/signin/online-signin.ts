import { readDeviceRevocation } from '../enforcement/device-revocation.js';
import type { DeviceBinding } from '../enrollment/device-binding.js';
import { readDeviceBinding } from '../enrollment/device-binding.js';
import { sessionExpiry } from '../session-token/session-expiry.js';
import type { WallClockObservation } from '../time/trusted-time.js';
import type { BindingFacts } from './binding-facts.js';
import { bindingFacts } from './binding-facts.js';
import { postWithDeviceProof } from './ca-call.js';
import { DEFAULT_LOCKOUT_POLICY, LocalLockout } from './local-lockout.js';
import { checkLoginAnswer } from './login-answer.js';
import { recordSession, startLocalSession } from './local-session.js';
import type { OfflineGrant } from './offline-grant.js';
import { derivePasswordVerifier } from './password-verifier.js';
import { sealedColumn } from '../keys/sealed-columns.js';
import type { SigninAgent, SigninInput, SigninOptions, SigninVerdict } from './signin-agent.js';
import { DEFAULT_SIGNIN_TIMEOUT_MS, DEFAULT_SESSION_TTL_MS } from './signin-agent.js';
import { SigninEvents } from './signin-events.js';
import type { SigninRefusalCode } from './signin-refusals.js';

export type OnlineSigninOutcome =
  /** The CA decided: signed in, or refused (and then there is no offline fallback). */
  | { kind: 'answered'; verdict: SigninVerdict }
  /** No decision from the CA: the caller may sign in offline. */
  | { kind: 'unreachable'; detail: string };

/** The CA's error codes that are a decision about the person, mapped to ours. */
const CA_REFUSALS: Readonly<Record<string, SigninRefusalCode>> = {
  invalid_credentials: 'bad_credentials',
  account_locked: 'locked',
  account_suspended: 'suspended',
  device_revoked: 'device_revoked',
  mfa_required: 'mfa_required',
  mfa_failed: 'mfa_failed',
};

/**
 * The binding an online sign-in (password or single sign-on) asks the CA with, or the refusal
 * when there is none: not enrolled, or revoked and wiped (or about to be), with nothing left to
 * sign with and nothing to ask the CA.
 */
export function bindingToAskWith(
  agent: SigninAgent,
): { binding: DeviceBinding; facts: BindingFacts } | { refused: OnlineSigninOutcome } {
  const binding = readDeviceBinding(agent.store);
  if (binding === null) {
    return {
      refused: { kind: 'answered', verdict: { ok: false, mode: 'online', code: 'not_enrolled' } },
    };
  }
  if (readDeviceRevocation(agent.store)?.revoked === true) {
    return {
      refused: { kind: 'answered', verdict: { ok: false, mode: 'online', code: 'device_revoked' } },
    };
  }
  return { binding, facts: bindingFacts(binding) };
}

/**
 * Online sign-in (docs/architecture.md §4): the credentials go to the CA with a device proof over the exact
 * body (a TOTP code too, when given). On success every token of the answer is checked against
 * the CA's JWKS before anything is stored; then, in one transaction, the grant, a fresh local
 * password verifier, the TOTP secret delivered with the grant (sealed again with the data key),
 * a reset lockout counter and the session (refresh token sealed) are written. The CA records online
 * sign-ins itself, so no sign-in event goes to the outbox.
 *
 * The session token returned is minted here, as offline, rather than the CA's access token:
 * local apps get one token format and one verifier, the session lasts the session TTL instead
 * of the access token's minutes, and its `sid` is the CA's session id, so revoking that session
 * at the CA ends it here too. The access token comes along for apps that call online services.
 * When the CA issues no grant (the tenant allows this user no offline sign-in), there is no
 * grant to bound a local session by: the access token is then the token, and whatever grant
 * and verifier this device held for the user are dropped.
 */
export async function signInOnline(
  agent: SigninAgent,
  input: SigninInput,
  options: SigninOptions = {},
): Promise<OnlineSigninOutcome> {
  const asking = bindingToAskWith(agent);
  if ('refused' in asking) return asking.refused;
  const { facts } = asking;
  const timeoutMs = options.caTimeoutMs ?? DEFAULT_SIGNIN_TIMEOUT_MS;
  const events = new SigninEvents(agent, facts);
  const observation = agent.trustedTime.observeWallClock();
  const recordRollback = () => {
    if (observation.rollback) events.clockRollback(observation);
  };

  const url = `${facts.caUrl}/v1/auth/login`;
  const body = JSON.stringify({
    tenant: input.tenant ?? facts.tenantId,
    username: input.username,
    password: input.password,
    ...(input.totp === undefined ? {} : { totp: input.totp }),
  });
  const post = () => postWithDeviceProof(agent, facts.x5c, { url, body }, timeoutMs);
  let call = await post();
  // A stale proof is refused before the CA looks at the credentials, so the one retry with a
  // corrected iat costs no failed attempt; a second refusal is final like any other.
  if (call.kind === 'answered' && agent.proofClock.learn(caCodeOf(call.body), call.date)) {
    call = await post();
  }
  if (call.kind === 'unreachable') return call;
  // Overloaded or failing is no decision about the person: offline rules apply meanwhile.
  if (call.status >= 500 || call.status === 429) {
    return { kind: 'unreachable', detail: `the CA answered HTTP ${call.status}` };
  }
  if (call.status !== 200) {
    const caCode = caCodeOf(call.body) ?? `http_${call.status}`;
    const code = CA_REFUSALS[caCode] ?? 'ca_refused';
    agent.store.transaction(recordRollback);
    return {
      kind: 'answered',
      verdict: { ok: false, mode: 'online', code, ...(code === 'ca_refused' ? { caCode } : {}) },
    };
  }

  return acceptLoginAnswer(
    agent,
    call.body,
    { username: input.username, secret: input.password, options },
    observation,
  );
}

/** How an online sign-in proved the person, for what the device may keep of it. */
export interface AnswerCredential {
  /** Shown when the answer carries no grant (and so no username); the user id otherwise. */
  username?: string;
  /**
   * The plaintext the local password verifier is derived from. Undefined (a sign-in through
   * the school's provider with no offline password chosen): no offline sign-in by password
   * here, so the device keeps no grant, as when the tenant allows no offline sign-in.
   */
  secret: string | undefined;
  options: SigninOptions;
}

/**
 * A CA login answer (`POST /v1/auth/login`, or a redeemed SSO hand-off: the same shape) checked
 * and stored: grant, verifier, TOTP secret, lockout reset and session, in one transaction.
 */
export async function acceptLoginAnswer(
  agent: SigninAgent,
  body: unknown,
  credential: AnswerCredential,
  observation: WallClockObservation = agent.trustedTime.observeWallClock(),
): Promise<OnlineSigninOutcome> {
  const { options } = credential;
  const binding = readDeviceBinding(agent.store);
  if (binding === null) {
    return { kind: 'answered', verdict: { ok: false, mode: 'online', code: 'not_enrolled' } };
  }
  const facts = bindingFacts(binding);
  const timeoutMs = options.caTimeoutMs ?? DEFAULT_SIGNIN_TIMEOUT_MS;
  const events = new SigninEvents(agent, facts);
  const nowSeconds = Math.floor(observation.trustedNow / 1000);
  const recordRollback = () => {
    if (observation.rollback) events.clockRollback(observation);
  };
  const answer = await checkLoginAnswer(agent, facts, binding.rootPem, body, nowSeconds, timeoutMs);
  // The access token's iat is a time the CA signed: trusted time may move up to it.
  const nowMs = Math.max(observation.trustedNow, answer.issuedAt * 1000);
  const lockout = new LocalLockout(agent.store, { ...DEFAULT_LOCKOUT_POLICY, ...options.lockout });
  const session = {
    sessionId: answer.sessionId,
    userId: answer.userId,
    amr: answer.amr,
    offline: false,
    nowMs,
    refreshSealed: agent.dataKey.seal(
      answer.refreshToken,
      sealedColumn.refreshToken(answer.sessionId),
    ),
  };
  const commit = <T>(write: () => T): T =>
    agent.store.transaction(() => {
      agent.trustedTime.observeServerTime(answer.issuedAt * 1000);
      recordRollback();
      lockout.reset(answer.userId);
      return write();
    });
  const signedIn = (token: string, expiresAtMs: number, username: string) => ({
    kind: 'answered' as const,
    verdict: {
      ok: true as const,
      mode: 'online' as const,
      token,
      sessionId: answer.sessionId,
      userId: answer.userId,
      username,
      expiresAt: expiresAtMs,
      accessToken: answer.accessToken,
    },
  });

  if (answer.grant === null) {
    // No offline sign-in for this user (tenant policy): whatever an earlier grant allowed here
    // goes, and with no grant to bound a local session the CA's access token is the token.
    commit(() => {
      dropOfflineState(agent, answer.userId);
      recordSession(agent, { ...session, grantId: null, expiresAt: answer.accessExpiresAt });
    });
    return signedIn(
      answer.accessToken,
      answer.accessExpiresAt * 1000,
      credential.username ?? answer.userId,
    );
  }
  const { claims: grant, jws, totp } = answer.grant;
  const expiresAt = sessionExpiry({
    nowMs,
    ttlMs: options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS,
    grantExpiresAtMs: grant.expiresAt * 1000,
    bindingValidUntilMs: facts.validUntilMs,
  });
  if (expiresAt <= Math.floor(nowMs / 1000)) {
    // Only when the CA's clock is behind ours: it accepted a binding we already see expire.
    const code = facts.validUntilMs <= grant.expiresAt * 1000 ? 'binding_expired' : 'grant_expired';
    return { kind: 'answered', verdict: { ok: false, mode: 'online', code } };
  }
  const secret = credential.secret;
  if (secret === undefined || (agent.credentialGate === undefined && isPin(secret))) {
    // Software tier: a PIN's few thousand values fall to an offline search of a copied store in
    // minutes, so it never becomes an offline credential here (the CA withholds the grant too).
    commit(() => {
      dropOfflineState(agent, answer.userId);
      recordSession(agent, { ...session, grantId: null, expiresAt: answer.accessExpiresAt });
    });
    return signedIn(
      answer.accessToken,
      answer.accessExpiresAt * 1000,
      credential.username ?? answer.userId,
    );
  }
  const verifier = await derivePasswordVerifier(secret, options.kdfCost);
  try {
    const gated = gatedVerifier(agent, verifier);
    const token = commit(() => {
      storeGrant(agent, grant, jws, nowMs);
      storeVerifier(agent, grant.userId, gated.sealed, gated.paramsJson, nowMs);
      // A grant without a secret (TOTP reset, or not allowed offline) must not leave the old one.
      if (totp === undefined) agent.totp.drop(grant.userId);
      else agent.totp.save(grant.userId, totp, nowMs);
      return startLocalSession(agent, { ...session, facts, grant, expiresAt });
    });
    return signedIn(token, expiresAt * 1000, grant.username);
  } finally {
    verifier.key.fill(0);
  }
}

/** As the CA tells a learner PIN from a password (`credentialKind`): digits only. */
export function isPin(secret: string): boolean {
  return /^\d+$/.test(secret);
}

/**
 * What the verifiers row keeps: the KDF output itself (software tier), or a TPM object whose
 * authValue it is (`gate: 'tpm'` in the parameters), which only this TPM can test a guess against.
 */
function gatedVerifier(
  agent: SigninAgent,
  verifier: { key: Buffer; paramsJson: string },
): { sealed: Buffer; paramsJson: string } {
  if (agent.credentialGate === undefined)
    return { sealed: verifier.key, paramsJson: verifier.paramsJson };
  const params = JSON.parse(verifier.paramsJson) as Record<string, unknown>;
  return {
    sealed: agent.credentialGate.enroll(verifier.key),
    paramsJson: JSON.stringify({ ...params, gate: agent.credentialGate.kind }),
  };
}

function caCodeOf(body: unknown): string | undefined {
  const stated = (body as { code?: unknown } | undefined)?.code;
  return typeof stated === 'string' ? stated : undefined;
}

/** The newest grant replaces the user's older ones: its window is the longest. */
function storeGrant(agent: SigninAgent, grant: OfflineGrant, jws: string, nowMs: number): void {
  agent.store.db
    .prepare<[string, string]>('DELETE FROM grants WHERE user_id = ? OR username = ?')
    .run(grant.userId, grant.username);
  agent.store.db
    .prepare<[string, string, string, string, number, string, number]>(
      `INSERT INTO grants (grant_id, user_id, username, grant_jws, offline_until, methods_json,
         received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      grant.grantId,
      grant.userId,
      grant.username,
      jws,
      grant.expiresAt * 1000,
      JSON.stringify(grant.methods),
      nowMs,
    );
}

function storeVerifier(
  agent: SigninAgent,
  userId: string,
  key: Buffer,
  paramsJson: string,
  nowMs: number,
): void {
  agent.store.db
    .prepare<[string, Buffer, string, number, number]>(
      `INSERT INTO verifiers (user_id, kind, credential_id, sealed, params_json, created_at,
         updated_at)
       VALUES (?, 'password', '', ?, ?, ?, ?)
       ON CONFLICT (user_id, kind, credential_id) DO UPDATE SET sealed = excluded.sealed,
         params_json = excluded.params_json, updated_at = excluded.updated_at`,
    )
    .run(
      userId,
      agent.dataKey.seal(key, sealedColumn.passwordVerifier(userId)),
      paramsJson,
      nowMs,
      nowMs,
    );
}

function dropOfflineState(agent: SigninAgent, userId: string): void {
  agent.store.db.prepare<[string]>('DELETE FROM grants WHERE user_id = ?').run(userId);
  agent.store.db.prepare<[string]>('DELETE FROM verifiers WHERE user_id = ?').run(userId);
}
