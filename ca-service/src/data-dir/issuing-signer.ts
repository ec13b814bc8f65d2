import { openPkcs11Token } from '../pki/pkcs11-token.js';
import type { Signer } from '../pki/signer.js';
import { fileSigner, heldKeySigner } from '../pki/signer.js';
import type { DataDirPaths } from './paths.js';
import { readPkcs11Settings } from './pkcs11-settings.js';

/**
 * The current issuing CA key for a command outside `serve` (audit checkpoints): from its file,
 * or from the PKCS#11 token `init` put it on. `close` ends the token session.
 */
export function openIssuingSigner(
  paths: DataDirPaths,
  passphrase: string,
  pkcs11: { pin: string; modulePath?: string } | undefined,
): { signer: Signer; close(): void } {
  const settings = readPkcs11Settings(paths);
  if (settings === null || pkcs11 === undefined) {
    return { signer: fileSigner(paths.issuingKey, passphrase), close: () => undefined };
  }
  const token = openPkcs11Token({
    modulePath: pkcs11.modulePath ?? settings.modulePath,
    tokenLabel: settings.tokenLabel,
    pin: pkcs11.pin,
  });
  try {
    return { signer: heldKeySigner(token.key(settings.issuingKeyId)), close: () => token.close() };
  } catch (error) {
    token.close();
    throw error;
  }
}
