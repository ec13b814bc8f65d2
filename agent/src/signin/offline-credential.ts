import type { OfflineGrant } from './offline-grant.js';
import type { SigninAgent } from './signin-agent.js';
import type { LoginFailureReason, LoginMethod } from './signin-events.js';

/**
 * The first factor of an offline sign-in, checked after every check that needs no secret and
 * before the MFA step. `passwordCredential` is the password's; a passkey assertion is another.
 */
export interface OfflineCredential {
  /** The method the grant must allow (`grant.methods`): `password`, `webauthn`, … */
  method: string;
  /** `method` of the `login_failed` event when this credential is refused. */
  eventMethod: LoginMethod;
  /** Catalogue reason when it does not match (default `invalid_credentials`). */
  mismatchReason?: LoginFailureReason;
  /** `amr` of the session it starts, before any second factor. */
  amr: readonly string[];
  /** It is a second factor in itself (a passkey with user verification): no code is asked for. */
  satisfiesMfa?: boolean;
  /** A TOTP code presented with it, for the MFA step. */
  totp?: string;
  /**
   * Compares it with what this device stores for the grant's user. Slow work (a KDF) belongs
   * here: it runs outside any transaction. `missing`: nothing usable is stored to compare with.
   * `hardware_locked`: the TPM's dictionary-attack lockout refused to check it at all.
   */
  check(
    agent: SigninAgent,
    grant: OfflineGrant,
  ): Promise<'match' | 'mismatch' | 'missing' | 'hardware_locked'>;
  /** Runs in the final transaction once every check passed (e.g. a passkey's new sign count). */
  commit?(agent: SigninAgent, grant: OfflineGrant): void;
}
