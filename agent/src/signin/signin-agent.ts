import type { EventValidator } from '@lantern/shared';
import { createIdGenerator } from '@lantern/shared';
import type { OpenedAgent } from '../data-dir/open-agent.js';
import type { CredentialGate } from '../keys/credential-gate.js';
import type { DataKey } from '../keys/data-key.js';
import type { DeviceKeyStore } from '../keys/device-key-store.js';
import { Outbox } from '../outbox/outbox.js';
import { ProofClock } from '../sync/proof-clock.js';
import type { AgentStore } from '../store/agent-store.js';
import type { TrustedTime } from '../time/trusted-time.js';
import { OfflineTotp } from '../totp/offline-totp.js';
import { JwksCache } from '../verify/jwks-cache.js';
import { RevocationState } from '../verify/revocation-state.js';
import type { LockoutPolicy } from './local-lockout.js';
import type { OfflineGrant } from './offline-grant.js';
import type { ScryptCost } from './password-verifier.js';
import type { SigninRefusalCode } from './signin-refusals.js';

/** What sign-in works with: an opened, enrolled agent and the helpers built on its store. */
export interface SigninAgent {
  store: AgentStore;
  dataKey: DataKey;
  deviceKey: DeviceKeyStore;
  /**
   * With the TPM key store: password verifiers are kept as TPM objects that only the TPM can
   * check a guess against, under its dictionary-attack lockout. Absent: software tier.
   */
  credentialGate?: CredentialGate;
  trustedTime: TrustedTime;
  outbox: Outbox;
  jwks: JwksCache;
  revocations: RevocationState;
  /** TOTP secrets delivered with grants, and the steps used, for the offline second factor. */
  totp: OfflineTotp;
  /** Session ids: ULIDs on trusted time, so a clock set back does not mint out-of-order ids. */
  newSessionId(): string;
  /** The iat device proofs claim; kept for the agent's life so a learned skew is reused. */
  proofClock: ProofClock;
}

/** The MFA hook: whether a grant demands a second factor offline. */
export interface OfflineMfaPolicy {
  requiresSecondFactor(grant: OfflineGrant): boolean;
}

export interface SigninOptions {
  /** Upper bound of a session; the grant, binding and offline window may end it sooner. 8 h. */
  sessionTtlMs?: number;
  lockout?: Partial<LockoutPolicy>;
  /** How long to wait for the CA before signing in offline. 3 s. */
  caTimeoutMs?: number;
  /** scrypt cost of new local password verifiers (tests lower it). */
  kdfCost?: ScryptCost;
  /** Default: `DEFAULT_MFA_POLICY`. */
  mfaPolicy?: OfflineMfaPolicy;
}

/**
 * A grant that asks for a second factor (claim `mfa`, from the tenant's MFA policy) needs a TOTP
 * code offline too: without one (or without a secret on this device to check it) the answer is
 * `mfa_required`, never a silent password-only sign-in.
 */
export const DEFAULT_MFA_POLICY: OfflineMfaPolicy = {
  requiresSecondFactor: (grant) => grant.mfa.length > 0,
};

export const DEFAULT_SESSION_TTL_MS = 8 * 3_600_000;
export const DEFAULT_SIGNIN_TIMEOUT_MS = 3_000;

export interface SigninInput {
  username: string;
  password: string;
  /**
   * A current code of the user's authenticator app: forwarded to the CA online, checked against
   * the secret delivered with the grant offline. Needed when the tenant's policy requires it.
   */
  totp?: string;
  /** Tenant id or slug for the CA; the binding's tenant when absent. */
  tenant?: string;
}

export interface SigninSuccess {
  ok: true;
  mode: 'online' | 'offline';
  /** The offline session token (see `mintSessionToken`), whatever the mode. */
  token: string;
  sessionId: string;
  userId: string;
  username: string;
  /** Epoch ms: the token's `exp`. */
  expiresAt: number;
  /** Online only: the CA's access token, for apps that call online services. */
  accessToken?: string;
}

export interface SigninRefusal {
  ok: false;
  mode: 'online' | 'offline';
  code: SigninRefusalCode;
  /** Known when the refusal came after the user was identified. */
  userId?: string;
  /** `locked`: until when (epoch ms, trusted time). */
  lockedUntil?: number;
  /** `ca_refused`: the CA's own error code. */
  caCode?: string;
}

export type SigninVerdict = SigninSuccess | SigninRefusal;

/** Wraps an opened agent; share one `EventValidator` per process (compiling it is slow). */
export function createSigninAgent(
  opened: Pick<OpenedAgent, 'store' | 'binding' | 'dataKey' | 'deviceKey' | 'trustedTime'> &
    Partial<Pick<OpenedAgent, 'credentialGate'>>,
  validator?: EventValidator,
): SigninAgent {
  const { store, binding, trustedTime } = opened;
  const ids = createIdGenerator({ now: () => trustedTime.trustedNow() });
  return {
    store,
    dataKey: opened.dataKey,
    deviceKey: opened.deviceKey,
    ...(opened.credentialGate === undefined ? {} : { credentialGate: opened.credentialGate }),
    trustedTime,
    outbox: new Outbox(store, {
      identity: { deviceId: binding.deviceId, tenantId: binding.tenantId },
      trustedTime,
      ...(validator === undefined ? {} : { validator }),
    }),
    jwks: new JwksCache(store),
    revocations: new RevocationState(store),
    totp: new OfflineTotp(store, opened.dataKey),
    newSessionId: () => ids.next('ses'),
    proofClock: new ProofClock(trustedTime),
  };
}
