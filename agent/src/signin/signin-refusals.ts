import { LanternError } from '@lantern/shared';

/**
 * Stable reason codes of a refused sign-in. Offline, they are checked in exactly the order of
 * `OFFLINE_CHECK_ORDER`; `suspended` and `ca_refused` only come from the CA.
 */
export type SigninRefusalCode =
  | 'not_enrolled'
  | 'binding_not_yet_valid'
  | 'binding_expired'
  | 'device_revoked'
  | 'clock_rollback'
  | 'no_grant'
  | 'grant_expired'
  | 'grant_revoked'
  | 'offline_window_exceeded'
  | 'locked'
  | 'method_not_allowed'
  | 'bad_credentials'
  | 'mfa_required'
  | 'mfa_failed'
  | 'suspended'
  | 'ca_refused';

/** docs/architecture.md §4's order; the first check that fails is the reason given. */
export const OFFLINE_CHECK_ORDER: readonly SigninRefusalCode[] = [
  'not_enrolled',
  'binding_not_yet_valid',
  'binding_expired',
  'device_revoked',
  'clock_rollback',
  'no_grant',
  'grant_expired',
  'grant_revoked',
  'offline_window_exceeded',
  'locked',
  'method_not_allowed',
  'bad_credentials',
  'mfa_required',
  'mfa_failed',
];

interface RefusalText {
  /** HTTP status on the loopback API. */
  status: number;
  /** What the person at the device reads: what happened and what to do. */
  message: string;
}

export const SIGNIN_REFUSALS: Readonly<Record<SigninRefusalCode, RefusalText>> = {
  not_enrolled: {
    status: 409,
    message:
      "This device is not set up for Lantern sign-in yet. Ask your school's administrator to enroll it.",
  },
  binding_not_yet_valid: {
    status: 403,
    message:
      "This device's Lantern certificate is not valid yet, so the date on the device is probably wrong. Set the correct date and time, or connect to the school network.",
  },
  binding_expired: {
    status: 403,
    message:
      "This device's Lantern certificate has expired. Connect it to the school network so it can renew, or ask your school's administrator to re-enroll it.",
  },
  device_revoked: {
    status: 403,
    message: "This device was revoked by your school's administrator. Ask them to re-enroll it.",
  },
  clock_rollback: {
    status: 403,
    message:
      'The device clock was set back, so offline sign-in is paused. Set the correct date and time, or connect to the school network once.',
  },
  no_grant: {
    status: 403,
    message:
      'This device cannot sign you in offline yet. Sign in once while it is connected to the school network.',
  },
  grant_expired: {
    status: 403,
    message:
      'Your offline sign-in on this device has expired. Sign in once while connected to the school network to renew it.',
  },
  grant_revoked: {
    status: 403,
    message:
      "Your offline sign-in on this device was withdrawn by your school's administrator. Sign in while connected, or ask them for help.",
  },
  offline_window_exceeded: {
    status: 403,
    message:
      'This device has been offline for too long. Connect it to the school network so it can catch up, then sign in again.',
  },
  locked: {
    status: 423,
    message:
      'Too many wrong passwords or codes: sign-in is locked for a while. Try again later, or ask your teacher.',
  },
  method_not_allowed: {
    status: 403,
    message:
      'This way of signing in is not allowed offline for your account. Sign in while connected to the school network.',
  },
  bad_credentials: {
    status: 401,
    message: 'The username or password is not right. Check them and try again.',
  },
  mfa_required: {
    status: 403,
    message:
      'Your account also needs the code from your authenticator app. Enter it with your password; if this device still refuses, sign in once while connected to the school network.',
  },
  mfa_failed: {
    status: 401,
    message:
      'The code from your authenticator app is not right, or was already used. Wait for the next code and try again.',
  },
  suspended: {
    status: 403,
    message: "Your account is suspended. Ask your school's administrator.",
  },
  ca_refused: {
    status: 403,
    message:
      "The Lantern service refused sign-in from this device. Ask your school's administrator to check the device.",
  },
};

/** As the CLI and the loopback API report a refusal: `{ code, message }`, exit 1 or 4xx. */
export function refusalError(
  code: SigninRefusalCode,
  details?: Record<string, unknown>,
): LanternError {
  const { status, message } = SIGNIN_REFUSALS[code];
  return new LanternError(code, status, message, details === undefined ? undefined : { details });
}
