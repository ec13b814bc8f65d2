import type { KeyObject } from 'node:crypto';

/** A P-256 public key as a JWK, exactly the members RFC 7638 hashes. */
export interface EcPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** Matches `assurance` in `identity.device.enrolled`. */
export type KeyAssurance = 'software' | 'hardware' | 'attested';

/**
 * The device key: generated on the device, never exported. Callers only ever get the public
 * half and signatures, so a TPM, Secure Enclave or Android Keystore implementation can take
 * the file one's place.
 */
export interface DeviceKeyStore {
  readonly algorithm: 'ES256';
  readonly assurance: KeyAssurance;
  publicKey(): KeyObject;
  publicJwk(): EcPublicJwk;
  /** RFC 7638 SHA-256 thumbprint of `publicJwk()`, base64url (the `kid` and `keyThumbprint`). */
  thumbprint(): string;
  /** ES256 over `data` (SHA-256 is applied here): a 64-byte IEEE P1363 `r ‖ s`, as JWS wants. */
  sign(data: Uint8Array): Buffer;
  /**
   * Opens a box the CA sealed to this key (`sealForDevice`: the TOTP secret beside an offline
   * grant). Throws `SealedBoxError` for another key, context or tampering, `key_unavailable`
   * once destroyed.
   */
  openSealedBox(bundle: unknown, context: string): Uint8Array;
  /** Removes the key for good; later calls to `sign` throw `key_unavailable`. Idempotent. */
  destroy(): Promise<void>;
}

export function ecPublicJwk(publicKey: KeyObject): EcPublicJwk {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) {
    throw new TypeError('not a P-256 public key');
  }
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
}
