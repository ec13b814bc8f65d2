import { existsSync, readFileSync } from 'node:fs';
import { HsmPinMissingError } from '../errors.js';
import type { DataDirPaths } from './paths.js';
import { writePublicFile } from './secret-files.js';

/**
 * What the data dir records of a CA whose keys are on a PKCS#11 token: where the token is and
 * which key pair is the issuing CA. No PIN and no key material: a copy of the data dir signs
 * nothing without the token.
 */
export interface Pkcs11Settings {
  modulePath: string;
  tokenLabel: string;
  /** CKA_ID (hex) of the issuing CA's key pair. */
  issuingKeyId: string;
}

export function readPkcs11Settings(paths: DataDirPaths): Pkcs11Settings | null {
  if (!existsSync(paths.pkcs11Settings)) return null;
  return JSON.parse(readFileSync(paths.pkcs11Settings, 'utf8')) as Pkcs11Settings;
}

export function writePkcs11Settings(paths: DataDirPaths, settings: Pkcs11Settings): void {
  writePublicFile(paths.pkcs11Settings, `${JSON.stringify(settings, null, 2)}\n`);
}

/**
 * The token's user PIN: `LANTERN_PKCS11_PIN`, else a PIN file (`--pkcs11-pin-file` or
 * `LANTERN_PKCS11_PIN_FILE`). Never a command-line argument, and never logged.
 */
export function resolvePkcs11Pin(env: NodeJS.ProcessEnv, pinFile?: string): string {
  const fromEnv = env['LANTERN_PKCS11_PIN'];
  if (fromEnv) return fromEnv;
  const file = pinFile ?? env['LANTERN_PKCS11_PIN_FILE'];
  if (file !== undefined && existsSync(file)) {
    const pin = readFileSync(file, 'utf8').trim();
    if (pin.length > 0) return pin;
  }
  throw new HsmPinMissingError();
}
