import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import {
  generateAuthenticationOptions,
  verifyAuthenticationResponse,
} from '@simplewebauthn/server';
import { readDeviceBinding } from '../enrollment/device-binding.js';
import { DataKeyDestroyedError, SealedDataInvalidError } from '../errors.js';
import { bindingFacts } from '../signin/binding-facts.js';
import type { OfflineCredential } from '../signin/offline-credential.js';
import { signInOfflineWith } from '../signin/offline-signin.js';
import type { SigninOptions, SigninRefusal, SigninSuccess } from '../signin/signin-agent.js';
import { SigninEvents } from '../signin/signin-events.js';
import { challengeOf } from './client-data-challenge.js';
import type { PasskeyCeremony, PasskeyRefusal } from './passkey-ceremony.js';
import type { PasskeyRefusalCode } from './passkey-refusals.js';
import type { StoredPasskey } from './passkey-store.js';

export type AuthenticationOptionsVerdict =
  { ok: true; options: PublicKeyCredentialRequestOptionsJSON } | PasskeyRefusal;

export type PasskeySigninVerdict =
  | SigninSuccess
  | SigninRefusal
  | { ok: false; mode: 'offline'; code: PasskeyRefusalCode; userId?: string };

/**
 * Signing in with a passkey registered on this device: the assertion is checked against the
 * public key stored here, so the CA is never needed, online or not. After the credential is
 * found, it is an offline sign-in like any other (`signInOfflineWith`): binding, revocation,
 * clock, a grant of that user allowing `webauthn`, lockout, then the assertion itself, so a
 * revoked device or user is refused exactly as with a password.
 */
export class PasskeySignin {
  constructor(private readonly ceremony: PasskeyCeremony) {}

  /** Discoverable when no user is named; otherwise only that user's passkeys are offered. */
  async options(username?: string): Promise<AuthenticationOptionsVerdict> {
    const { agent, config, challenges, passkeys } = this.ceremony;
    let userId: string | undefined;
    let allowCredentials: { id: string; transports: StoredPasskey['transports'] }[] = [];
    if (username !== undefined) {
      userId = agent.store.db
        .prepare<[string], string>(
          'SELECT user_id FROM grants WHERE username = ? ORDER BY received_at DESC LIMIT 1',
        )
        .pluck()
        .get(username);
      allowCredentials = userId === undefined ? [] : passkeys.descriptorsOf(userId);
      if (userId === undefined || allowCredentials.length === 0) {
        return { ok: false, code: 'passkey_unknown' };
      }
    }
    const challenge = challenges.issue({
      kind: 'authenticate',
      ...(userId === undefined ? {} : { userId }),
    });
    const options = await generateAuthenticationOptions({
      rpID: config.rpId,
      // As bytes: the library would take a string for text and encode it once more.
      challenge: Buffer.from(challenge, 'base64url'),
      allowCredentials,
      userVerification: config.userVerification,
      timeout: config.challengeTtlMs,
    });
    return { ok: true, options };
  }

  async signIn(
    response: AuthenticationResponseJSON,
    signinOptions: SigninOptions = {},
  ): Promise<PasskeySigninVerdict> {
    const { agent, challenges } = this.ceremony;
    const binding = readDeviceBinding(agent.store);
    if (binding === null) return { ok: false, mode: 'offline', code: 'not_enrolled' };
    // Refusals before the user is known are attempts too (docs/architecture.md §4: every attempt is recorded).
    const early = (code: PasskeyRefusalCode): PasskeySigninVerdict =>
      agent.store.transaction(() => {
        new SigninEvents(agent, bindingFacts(binding)).loginFailed(
          'passkey_failed',
          0,
          undefined,
          'passkey',
        );
        return { ok: false, mode: 'offline', code };
      });

    const challenge = challengeOf(response.response.clientDataJSON);
    if (challenge === null || response.id !== response.rawId) return early('passkey_invalid');
    const pending = challenges.consume(challenge, 'authenticate');
    if (!pending.ok || pending.purpose.kind !== 'authenticate') {
      return early('passkey_challenge_invalid');
    }
    const stored = this.find(response.id);
    if (stored === null) return early('passkey_unknown');
    if (pending.purpose.userId !== undefined && pending.purpose.userId !== stored.userId) {
      return early('passkey_unknown');
    }
    const userHandle = response.response.userHandle;
    if (
      userHandle !== undefined &&
      userHandle !== Buffer.from(stored.userId, 'utf8').toString('base64url')
    ) {
      return early('passkey_invalid');
    }

    const assertion = this.credential(response, challenge, stored);
    const verdict = await signInOfflineWith(
      agent,
      { userId: stored.userId },
      assertion.credential,
      signinOptions,
    );
    const failure = assertion.failure();
    // The offline flow knows only "the credential did not match"; say which way it did not.
    if (!verdict.ok && verdict.code === 'bad_credentials' && failure !== null) {
      return { ...verdict, mode: 'offline', code: failure };
    }
    return verdict;
  }

  private find(credentialId: string): StoredPasskey | null {
    try {
      return this.ceremony.passkeys.find(credentialId);
    } catch (error) {
      // A key that no longer opens (moved, altered, shredded) belongs to no one any more.
      if (error instanceof SealedDataInvalidError || error instanceof DataKeyDestroyedError) {
        return null;
      }
      throw error;
    }
  }

  /**
   * The assertion as the credential step of the offline flow. The library is given a counter
   * of 0 and no UV requirement so that it checks the signature, origin, RP id and challenge
   * only; the counter and UV are checked here, each with its own reason.
   */
  private credential(
    response: AuthenticationResponseJSON,
    challenge: string,
    stored: StoredPasskey,
  ): { credential: OfflineCredential; failure(): PasskeyRefusalCode | null } {
    const { config, passkeys } = this.ceremony;
    let failure: PasskeyRefusalCode | null = null;
    let userVerified = false;
    let newCounter = stored.signCount;
    const credential: OfflineCredential = {
      method: 'webauthn',
      eventMethod: 'passkey',
      mismatchReason: 'passkey_failed',
      // RFC 8176: a hardware-held key; with user verification it is two factors in one.
      get amr() {
        return userVerified ? ['hwk', 'mfa'] : ['hwk', 'user'];
      },
      get satisfiesMfa() {
        return userVerified;
      },
      async check() {
        let info;
        try {
          const verified = await verifyAuthenticationResponse({
            response,
            expectedChallenge: challenge,
            expectedOrigin: [...config.origins],
            expectedRPID: config.rpId,
            credential: {
              id: stored.credentialId,
              publicKey: new Uint8Array(stored.publicKey),
              counter: 0,
              transports: stored.transports,
            },
            requireUserVerification: false,
          });
          if (!verified.verified) {
            failure = 'passkey_invalid';
            return 'mismatch';
          }
          info = verified.authenticationInfo;
        } catch {
          failure = 'passkey_invalid';
          return 'mismatch';
        }
        // A clone of the authenticator shows up as a counter that went backwards (or stood
        // still); authenticators without a counter always say 0, and that is fine. The counter is
        // read again after the await: another assertion may have been accepted meanwhile.
        const storedCount = passkeys.find(stored.credentialId)?.signCount ?? stored.signCount;
        if ((info.newCounter > 0 || storedCount > 0) && info.newCounter <= storedCount) {
          failure = 'passkey_counter_regressed';
          return 'mismatch';
        }
        if (config.userVerification === 'required' && !info.userVerified) {
          failure = 'user_verification_required';
          return 'mismatch';
        }
        userVerified = info.userVerified;
        newCounter = info.newCounter;
        return 'match';
      },
      commit(agent) {
        passkeys.recordUse(stored.credentialId, newCounter, agent.trustedTime.trustedNow());
      },
    };
    return { credential, failure: () => failure };
  }
}
