import { LanternError } from '@lantern/shared';

/**
 * Stable reason codes of a refused passkey ceremony. Like sign-in refusals they are verdicts,
 * not failures of the agent; a passkey sign-in that gets past them can still be refused with
 * any offline sign-in code (`no_grant`, `locked`, ...).
 */
export type PasskeyRefusalCode =
  | 'passkey_session_required'
  | 'passkey_challenge_invalid'
  | 'passkey_invalid'
  | 'passkey_unknown'
  | 'passkey_already_registered'
  | 'passkey_counter_regressed'
  | 'user_verification_required';

export const PASSKEY_REFUSALS: Readonly<
  Record<PasskeyRefusalCode, { status: number; message: string }>
> = {
  passkey_session_required: {
    status: 401,
    message:
      'Sign in with your password first: a passkey can only be added while you are signed in.',
  },
  passkey_challenge_invalid: {
    status: 401,
    message: 'That passkey request has expired or was already used. Please try again.',
  },
  passkey_invalid: {
    status: 401,
    message:
      'The passkey answer could not be checked. Please try again, or sign in with your password.',
  },
  passkey_unknown: {
    status: 401,
    message:
      'This passkey is not registered on this device. Sign in with your password, then add a passkey.',
  },
  passkey_already_registered: {
    status: 409,
    message: 'This passkey is already registered on this device. You can use it to sign in.',
  },
  passkey_counter_regressed: {
    status: 401,
    message:
      'This passkey looks like a copy of the one registered here, so it was refused. Sign in with your password and tell your teacher.',
  },
  user_verification_required: {
    status: 401,
    message:
      'Your passkey has to check that it is you (PIN, fingerprint or face). Unlock it that way and try again.',
  },
};

export function isPasskeyRefusalCode(code: string): code is PasskeyRefusalCode {
  return Object.hasOwn(PASSKEY_REFUSALS, code);
}

/** As the loopback API reports it: `{ code, message }` with the code's status. */
export function passkeyRefusalError(code: PasskeyRefusalCode): LanternError {
  const { status, message } = PASSKEY_REFUSALS[code];
  return new LanternError(code, status, message);
}
