import { signInOfflineWith } from './offline-signin.js';
import { passwordCredential } from './password-credential.js';
import type { SigninAgent, SigninOptions, SigninVerdict } from './signin-agent.js';

/** What a person types again before adding a credential: the password, and a code if they use one. */
export interface FreshProof {
  password: string;
  totp?: string;
}

/** How long the session of a step-up lives: long enough for the ceremony it allows. */
export const STEP_UP_TTL_MS = 120_000;

/**
 * A fresh proof of the password (and of the code, when the user's policy asks for one) for a
 * user already signed in, before a new credential is added (issue 15): a session token alone,
 * which a local app or a page left open may hold, must not be enough to add a passkey or a
 * TOTP secret. It runs the offline sign-in checks against this device's verifier, so a wrong
 * password counts towards the same lockout as at sign-in, a revoked device or user refuses,
 * and the attempt is recorded like any sign-in. Its session is short and is what the ceremony
 * is bound to.
 */
export function stepUp(
  agent: SigninAgent,
  userId: string,
  proof: FreshProof,
  options: SigninOptions = {},
  ttlMs = STEP_UP_TTL_MS,
): Promise<SigninVerdict> {
  return signInOfflineWith(agent, { userId }, passwordCredential(proof.password, proof.totp), {
    ...options,
    sessionTtlMs: ttlMs,
  });
}
