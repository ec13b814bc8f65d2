import type { UserVerificationRequirement } from '@simplewebauthn/server';

/** How the agent runs WebAuthn ceremonies for its own page. */
export interface PasskeyConfig {
  /** The page is loaded as http://localhost:PORT/, so the RP id is the host name alone. */
  rpId: string;
  rpName: string;
  /** Origins a ceremony may come from, e.g. `http://localhost:7767`. */
  origins: readonly string[];
  /**
   * `required` (default): a passkey is a whole sign-in on its own here, so it must prove the
   * person (PIN, biometric), not only that somebody touched the device.
   */
  userVerification: Extract<UserVerificationRequirement, 'required' | 'preferred'>;
  /** How long a challenge stays usable. 2 minutes. */
  challengeTtlMs: number;
}

export const DEFAULT_PASSKEY_CONFIG: Omit<PasskeyConfig, 'origins'> = {
  rpId: 'localhost',
  rpName: 'Lantern on this device',
  userVerification: 'required',
  challengeTtlMs: 120_000,
};
