import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PassphraseMissingError, RootPassphraseMissingError } from '../errors.js';

/** Written whole or not at all, readable only by the service's user. */
export function writePrivateFile(path: string, content: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, content, { mode: 0o600 });
  renameSync(temporary, path);
}

export function writePublicFile(path: string, content: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, content, { mode: 0o644 });
  renameSync(temporary, path);
}

/**
 * The CA key passphrase: `LANTERN_CA_PASSPHRASE`, else a passphrase file (`--passphrase-file`
 * or the data dir's own, which `init` creates for a dev setup). Never a command-line argument,
 * which any local user could read from the process list.
 */
export function resolvePassphrase(
  env: NodeJS.ProcessEnv,
  passphraseFile: string | undefined,
  defaultFile: string,
): string {
  const fromEnv = env['LANTERN_CA_PASSPHRASE'];
  if (fromEnv) return fromEnv;
  const file = passphraseFile ?? defaultFile;
  if (existsSync(file)) {
    const passphrase = readFileSync(file, 'utf8').trim();
    if (passphrase.length > 0) return passphrase;
  }
  throw new PassphraseMissingError();
}

/**
 * The offline root key's own passphrase: `LANTERN_CA_ROOT_PASSPHRASE` or `--root-passphrase-file`.
 * Never the online CA's: whoever runs the online CA must not be able to open the root.
 */
export function resolveRootPassphrase(
  env: NodeJS.ProcessEnv,
  passphraseFile: string | undefined,
): string {
  const fromEnv = env['LANTERN_CA_ROOT_PASSPHRASE'];
  if (fromEnv) return fromEnv;
  if (passphraseFile !== undefined && existsSync(passphraseFile)) {
    const passphrase = readFileSync(passphraseFile, 'utf8').trim();
    if (passphrase.length > 0) return passphrase;
  }
  throw new RootPassphraseMissingError();
}
