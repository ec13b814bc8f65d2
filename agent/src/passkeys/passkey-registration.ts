import type {
  PublicKeyCredentialCreationOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { generateRegistrationOptions, verifyRegistrationResponse } from '@simplewebauthn/server';
import { readDeviceBinding } from '../enrollment/device-binding.js';
import type { SigninOptions, SigninRefusal } from '../signin/signin-agent.js';
import type { FreshProof } from '../signin/step-up.js';
import { stepUp } from '../signin/step-up.js';
import { challengeOf } from './client-data-challenge.js';
import type { PasskeyCeremony, PasskeyRefusal } from './passkey-ceremony.js';

/** ES256 only: P-256 is what every platform authenticator has (docs/architecture.md §2). */
const ES256 = -7;

/** `reason` of `identity.user.webauthn_registration_canceled`. */
export type RegistrationCancelReason =
  'user_canceled' | 'timeout' | 'not_allowed' | 'invalid_state' | 'other';

export type RegistrationOptionsVerdict =
  { ok: true; options: PublicKeyCredentialCreationOptionsJSON } | PasskeyRefusal | SigninRefusal;

export type RegistrationVerdict =
  { ok: true; credentialId: string; userId: string; userVerified: boolean } | PasskeyRefusal;

const refuse = (code: PasskeyRefusal['code']): PasskeyRefusal => ({ ok: false, code });

/**
 * Registering a passkey for this device's page (docs/architecture.md §4: a passkey assertion is one of the
 * offline credentials). A session token alone is not enough (issue 15): whoever holds one, a
 * local app or a page left open, could add their own passkey and sign in as that user offline
 * for good. So the session must have started with a password and the person proves it again
 * (`stepUp`); the ceremony is bound to the step-up's short session.
 * The CA learns of the passkey from the outbox (`identity.user.mfa_enrolled`, kind webauthn).
 */
export class PasskeyRegistration {
  constructor(private readonly ceremony: PasskeyCeremony) {}

  async options(
    sessionToken: string,
    proof: FreshProof,
    signin: SigninOptions = {},
  ): Promise<RegistrationOptionsVerdict> {
    const { agent, config, challenges, passkeys, verifier } = this.ceremony;
    const verdict = verifier.verifySessionToken(sessionToken);
    if (!verdict.ok) return refuse('passkey_session_required');
    const { sub, sid, amr } = verdict.claims;
    if (typeof sub !== 'string' || typeof sid !== 'string')
      return refuse('passkey_session_required');
    if (!Array.isArray(amr) || !amr.includes('pwd')) return refuse('passkey_session_required');
    if (!this.sessionActive(sid)) return refuse('passkey_session_required');
    const fresh = await stepUp(agent, sub, proof, signin, config.challengeTtlMs);
    if (!fresh.ok) return fresh;
    const username =
      agent.store.db
        .prepare<[string], string>(
          'SELECT username FROM grants WHERE user_id = ? ORDER BY received_at DESC LIMIT 1',
        )
        .pluck()
        .get(sub) ?? sub;
    const challenge = challenges.issue({
      kind: 'register',
      userId: sub,
      sessionId: fresh.sessionId,
    });
    const options = await generateRegistrationOptions({
      rpName: config.rpName,
      rpID: config.rpId,
      userName: username,
      userDisplayName: username,
      userID: new TextEncoder().encode(sub),
      // As bytes: the library would take a string for text and encode it once more.
      challenge: Buffer.from(challenge, 'base64url'),
      timeout: config.challengeTtlMs,
      attestationType: 'none',
      excludeCredentials: passkeys.descriptorsOf(sub),
      authenticatorSelection: {
        residentKey: 'required',
        requireResidentKey: true,
        userVerification: config.userVerification,
      },
      supportedAlgorithmIDs: [ES256],
    });
    return { ok: true, options };
  }

  async verify(response: RegistrationResponseJSON): Promise<RegistrationVerdict> {
    const { agent, config, challenges, passkeys } = this.ceremony;
    const challenge = challengeOf(response.response.clientDataJSON);
    if (challenge === null) return refuse('passkey_invalid');
    const pending = challenges.consume(challenge, 'register');
    if (!pending.ok || pending.purpose.kind !== 'register') {
      return refuse('passkey_challenge_invalid');
    }
    const { userId, sessionId } = pending.purpose;
    if (!this.sessionActive(sessionId)) return refuse('passkey_session_required');
    let info;
    try {
      const verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: [...config.origins],
        expectedRPID: config.rpId,
        // Checked below instead, so that a missing UV gets its own reason code.
        requireUserVerification: false,
        supportedAlgorithmIDs: [ES256],
      });
      if (!verified.verified) return refuse('passkey_invalid');
      info = verified.registrationInfo;
    } catch {
      return refuse('passkey_invalid');
    }
    if (config.userVerification === 'required' && !info.userVerified) {
      return refuse('user_verification_required');
    }
    const { credential } = info;
    const binding = readDeviceBinding(agent.store);
    if (binding === null) return refuse('passkey_session_required');
    return agent.store.transaction((): RegistrationVerdict => {
      if (passkeys.exists(credential.id)) return refuse('passkey_already_registered');
      passkeys.insert({
        credentialId: credential.id,
        userId,
        publicKey: credential.publicKey,
        signCount: credential.counter,
        transports: credential.transports ?? [],
        userVerified: info.userVerified,
        createdAt: agent.trustedTime.trustedNow(),
      });
      agent.outbox.append({
        eventType: 'identity.user.mfa_enrolled',
        actor: { type: 'user', id: userId },
        payload: {
          userId,
          kind: 'webauthn',
          credentialId: credential.id,
          deviceId: binding.deviceId,
        },
      });
      return { ok: true, credentialId: credential.id, userId, userVerified: info.userVerified };
    });
  }

  /**
   * The browser gave up the ceremony (the person cancelled, it timed out, or the authenticator
   * already held a passkey for this user): the CA is told, as admins follow failed enrolments.
   */
  cancel(challenge: string, reason: RegistrationCancelReason): { ok: true } | PasskeyRefusal {
    const { agent, challenges } = this.ceremony;
    const pending = challenges.consume(challenge, 'register');
    if (!pending.ok || pending.purpose.kind !== 'register') {
      return refuse('passkey_challenge_invalid');
    }
    const { userId } = pending.purpose;
    const binding = readDeviceBinding(agent.store);
    if (binding === null) return refuse('passkey_session_required');
    agent.store.transaction(() =>
      agent.outbox.append({
        eventType: 'identity.user.webauthn_registration_canceled',
        actor: { type: 'user', id: userId },
        payload: { userId, deviceId: binding.deviceId, reason },
      }),
    );
    return { ok: true };
  }

  private sessionActive(sessionId: string): boolean {
    return (
      this.ceremony.agent.store.db
        .prepare<[string, number], number>(
          'SELECT 1 FROM sessions WHERE session_id = ? AND ended_at IS NULL AND expires_at > ?',
        )
        .pluck()
        .get(sessionId, this.ceremony.agent.trustedTime.trustedNow()) !== undefined
    );
  }
}
