import { UsageError, optionalString } from '@lantern/shared';
import type { CommandIo } from '@lantern/shared';
import { dataDirPaths } from '../data-dir/paths.js';
import { readPkcs11Settings, resolvePkcs11Pin } from '../data-dir/pkcs11-settings.js';
import type { Pkcs11Config } from '../pki/pkcs11-token.js';
import type { CommandValues } from './command-kit.js';

/** The flags of `init` and `serve` for CA keys on a PKCS#11 token. No flag takes the PIN itself. */
export const PKCS11_OPTIONS = {
  'pkcs11-module': { type: 'string' },
  'pkcs11-token-label': { type: 'string' },
  'pkcs11-pin-file': { type: 'string' },
} as const;

export const PKCS11_USAGE =
  'PKCS#11 (keys on an HSM): --pkcs11-module LIB.so --pkcs11-token-label L, PIN from\n' +
  'LANTERN_PKCS11_PIN, LANTERN_PKCS11_PIN_FILE or --pkcs11-pin-file (LANTERN_PKCS11_MODULE and\n' +
  'LANTERN_PKCS11_TOKEN_LABEL stand for the two flags). docs/security.md, CA keys.';

const moduleOf = (values: CommandValues, io: CommandIo) =>
  optionalString(values, 'pkcs11-module') ?? (io.env['LANTERN_PKCS11_MODULE'] || undefined);

/** `init`: the token to generate the issuing and token keys on; none means key files. */
export function pkcs11InitConfig(values: CommandValues, io: CommandIo): Pkcs11Config | undefined {
  const modulePath = moduleOf(values, io);
  const tokenLabel =
    optionalString(values, 'pkcs11-token-label') ??
    (io.env['LANTERN_PKCS11_TOKEN_LABEL'] || undefined);
  if (modulePath === undefined && tokenLabel === undefined) return undefined;
  if (modulePath === undefined || tokenLabel === undefined) {
    throw new UsageError(
      'keys on a PKCS#11 token need both --pkcs11-module and --pkcs11-token-label',
    );
  }
  const pin = resolvePkcs11Pin(io.env, optionalString(values, 'pkcs11-pin-file'));
  return { modulePath, tokenLabel, pin };
}

/**
 * `serve` and the commands that open the data dir: the PIN (and a module path that moved) for a
 * CA that `init` put on a token; nothing for a CA with key files.
 */
export function pkcs11OpenOptions(
  values: CommandValues,
  io: CommandIo,
  dataDir: string,
): { pin: string; modulePath?: string } | undefined {
  if (readPkcs11Settings(dataDirPaths(dataDir)) === null) return undefined;
  const modulePath = moduleOf(values, io);
  const pin = resolvePkcs11Pin(io.env, optionalString(values, 'pkcs11-pin-file'));
  return { pin, ...(modulePath === undefined ? {} : { modulePath }) };
}
