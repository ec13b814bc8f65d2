import type { KeyObject } from 'node:crypto';
import { createPublicKey, sign } from 'node:crypto';
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { openPrivateKey, sealPrivateKey } from './key-file.js';
import type { HeldKey } from './pkcs11-token.js';

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

/** A key held by a PKCS#11 token: each signature is one call to the token. */
export function heldKeySigner(key: HeldKey): Signer {
  return {
    publicKey: key.publicKey,
    sign: async (data, encoding = 'der') => key.sign(data, encoding),
  };
}

/**
 * Reads an encrypted key file (pki/key-file.ts); the passphrase comes from the environment or a
 * file, never argv. A key still in the old PBKDF2 format is written back in the new one.
 */
export function readKeyFile(keyPath: string, passphrase: string): { privateKey: KeyObject } {
  const opened = openPrivateKey(readFileSync(keyPath), passphrase);
  if (opened.legacy) rewriteFile(keyPath, sealPrivateKey(opened.privateKey, passphrase));
  return { privateKey: opened.privateKey };
}

/** Same mode, whole or not at all: a crash leaves the old format, which still opens. */
function rewriteFile(path: string, contents: string): void {
  const temporary = `${path}.${process.pid}.rewrap.tmp`;
  writeFileSync(temporary, contents, { mode: statSync(path).mode & 0o777 });
  renameSync(temporary, path);
}

/** Loads an encrypted key file (pki/key-file.ts). */
export function fileSigner(keyPath: string, passphrase: string): Signer {
  return keyObjectSigner(readKeyFile(keyPath, passphrase).privateKey);
}

export function encryptPrivateKey(privateKey: KeyObject, passphrase: string): string {
  return sealPrivateKey(privateKey, passphrase);
}
