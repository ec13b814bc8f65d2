import type { JwtRejectReason } from '@lantern/shared';

/** Why a token was refused: stable codes, for apps, logs and `lantern-agent verify`. */
export type TokenRejection =
  | 'not_enrolled'
  | 'malformed'
  | 'wrong_type'
  | 'unknown_kid'
  | 'bad_signature'
  | 'untrusted_chain'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'wrong_device'
  | 'wrong_tenant'
  | 'device_revoked'
  | 'key_revoked'
  | 'user_revoked'
  | 'grant_revoked'
  | 'session_revoked'
  | 'session_ended';

export const TOKEN_REJECTIONS: Readonly<Record<TokenRejection, string>> = {
  not_enrolled: 'This device is not enrolled, so it has nothing to verify tokens against.',
  malformed: 'This is not a Lantern token, or it is damaged.',
  wrong_type: 'This is not a Lantern session or access token.',
  unknown_kid:
    'The token was signed by a CA key this device does not know yet. Let the device sync, then try again.',
  bad_signature: 'The token signature is not valid: it was altered or forged.',
  untrusted_chain:
    "The token was signed by a device that does not chain to this school's Lantern root.",
  expired: 'The session has ended (the token expired). Sign in again.',
  not_yet_valid: 'The token is not valid yet; the device clock may be wrong.',
  wrong_issuer: 'The token was issued by someone other than this Lantern service.',
  wrong_audience: 'The token is meant for another kind of app.',
  wrong_device: 'The token was issued on another device; sign in on this one.',
  wrong_tenant: 'The token belongs to another school.',
  device_revoked: "This device was revoked by your school's administrator.",
  key_revoked: 'The Lantern service withdrew the key that signed this token. Sign in again.',
  user_revoked: "This account was revoked by your school's administrator.",
  grant_revoked:
    "The offline sign-in behind this session was withdrawn by your school's administrator.",
  session_revoked: "This session was ended by your school's administrator. Sign in again.",
  session_ended: 'This session was signed out. Sign in again.',
};

/** The shared JWT verifier's reasons, folded into ours. */
export function rejectionOfJwt(
  reason: JwtRejectReason | 'missing_x5c' | `chain_${string}`,
): TokenRejection {
  if (reason.startsWith('chain_')) return 'untrusted_chain';
  switch (reason) {
    case 'wrong_type':
    case 'unknown_kid':
    case 'bad_signature':
    case 'expired':
    case 'not_yet_valid':
    case 'wrong_issuer':
    case 'wrong_audience':
      return reason;
    case 'issued_in_future':
      return 'not_yet_valid';
    case 'missing_kid':
      return 'unknown_kid';
    default:
      return 'malformed';
  }
}
