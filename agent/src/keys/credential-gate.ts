/** What a hardware gate says about one presented secret. */
export type GateVerdict = 'match' | 'mismatch' | 'locked';

/**
 * Puts hardware between a stored credential and a guess (Windows Hello's anti-hammering): the
 * stored form only answers through the device's TPM, which counts every wrong guess in its
 * dictionary-attack counter and stops answering when it trips. A copy of the store on another
 * machine has nothing to guess against. `secret` is the KDF output of the password or PIN.
 */
export interface CredentialGate {
  readonly kind: 'tpm';
  /** The blob to keep in place of a verifier; it opens on this TPM only, and only with `secret`. */
  enroll(secret: Uint8Array): Buffer;
  check(gated: Uint8Array, secret: Uint8Array): GateVerdict;
}
