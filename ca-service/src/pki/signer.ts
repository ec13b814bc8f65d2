import type { KeyObject } from 'node:crypto';
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The issuing CA's key sits behind this interface so that a KMS or PKCS#11 signer can replace
 * the file one. Signatures are DER-encoded ECDSA (what X.509 and CRLs carry).
 */
export interface Signer {
  readonly publicKey: KeyObject;
  /** `der` for X.509 and CRLs, `ieee-p1363` for JWS. */
  sign(data: Uint8Array, encoding?: 'der' | 'ieee-p1363'): Promise<Buffer>;
}

export function keyObjectSigner(privateKey: KeyObject): Signer {
  const publicKey = createPublicKey(privateKey);
  return {
    publicKey,
    sign: async (data, encoding = 'der') =>
      sign('sha256', data, { key: privateKey, dsaEncoding: encoding }),
  };
}

/** Reads an encrypted key file; the passphrase comes from the environment or a file, never argv. */
export function readKeyFile(keyPath: string, passphrase: string): { privateKey: KeyObject } {
  return {
    privateKey: createPrivateKey({ key: readFileSync(keyPath), format: 'pem', passphrase }),
  };
}

export function fileSigner(keyPath: string, passphrase: string): Signer {
  return keyObjectSigner(readKeyFile(keyPath, passphrase).privateKey);
}

export function encryptPrivateKey(privateKey: KeyObject, passphrase: string): string {
  return privateKey.export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase,
  }) as string;
}
