import { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { KeyRingStore, TokenKey } from './key-ring-store.js';
import { KeyFileCorruptError, KeyRingCorruptError, KeyRingLockedError } from '../errors.js';
import { keyFileHeader, openPrivateKey, sealPrivateKey } from '../pki/key-file.js';
import { writeAtomically } from './write-atomically.js';

const FORMAT = 'lantern-token-keys/1';
const LEGACY_PEM = '-----BEGIN ENCRYPTED PRIVATE KEY-----';

interface StoredKey {
  kid: string;
  status: TokenKey['status'];
  createdAt: string;
  activatedAt?: string;
  retiredAt?: string;
  removeAfter?: string;
  privateKey: string;
}

/**
 * The key ring as one JSON file (mode 0600) whose private keys are sealed (pki/key-file.ts): a
 * copied file or backup is useless without the passphrase. Saves go to a temporary file that
 * is flushed and renamed over the old one, so a crash never leaves half a key ring.
 */
export function fileKeyRingStore(path: string, passphrase: string): KeyRingStore {
  if (passphrase === '') throw new KeyRingLockedError('The token key ring needs a passphrase.');
  // Every key of the file under one Argon2id derivation (pki/key-file.ts): one KDF run a start.
  let header: string | undefined;
  const save = (state: { keys: readonly TokenKey[] }) => {
    const keys = state.keys.map((key) => {
      const stored = encodeKey(key, passphrase, header);
      header ??= keyFileHeader(stored.privateKey) ?? undefined;
      return stored;
    });
    writeAtomically(path, `${JSON.stringify({ format: FORMAT, keys }, null, 2)}\n`);
  };
  return {
    load() {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
      let legacy = false;
      const keys = parseKeyFile(text).map((stored) => {
        const decoded = decodeKey(stored, passphrase);
        legacy ||= decoded.legacy;
        header ??= keyFileHeader(stored.privateKey) ?? undefined;
        return decoded.key;
      });
      // Keys written with PBKDF2 (2048 iterations) go back to disk sealed the new way now.
      if (legacy) save({ keys });
      return { keys };
    },
    save,
  };
}

function encodeKey(key: TokenKey, passphrase: string, header: string | undefined): StoredKey {
  const iso = (ms: number) => new Date(ms).toISOString();
  if (!(key.privateKey instanceof KeyObject)) {
    throw new KeyRingCorruptError('A key held by a PKCS#11 token cannot go into the key file.');
  }
  const privateKey = sealPrivateKey(key.privateKey, passphrase, header);
  const stored: StoredKey = {
    kid: key.kid,
    status: key.status,
    createdAt: iso(key.createdAt),
    privateKey,
  };
  if (key.status !== 'next') stored.activatedAt = iso(key.activatedAt);
  if (key.status === 'retired') {
    stored.retiredAt = iso(key.retiredAt);
    stored.removeAfter = iso(key.removeAfter);
  }
  return stored;
}

function parseKeyFile(text: string): StoredKey[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new KeyRingCorruptError('The token key file is not JSON.', { cause: error });
  }
  const file = parsed as { format?: unknown; keys?: unknown } | null;
  if (file?.format !== FORMAT || !Array.isArray(file.keys)) {
    throw new KeyRingCorruptError(`The token key file is not in the ${FORMAT} format.`);
  }
  return file.keys as StoredKey[];
}

function decodeKey(stored: StoredKey, passphrase: string): { key: TokenKey; legacy: boolean } {
  const field = (name: keyof StoredKey): string => {
    const value = (stored as unknown as Record<string, unknown> | null)?.[name];
    if (typeof value !== 'string') {
      throw new KeyRingCorruptError(`A key in the token key file has no ${name}.`);
    }
    return value;
  };
  const time = (name: 'createdAt' | 'activatedAt' | 'retiredAt' | 'removeAfter'): number => {
    const ms = Date.parse(field(name));
    if (!Number.isFinite(ms)) throw new KeyRingCorruptError(`A key has an invalid ${name}.`);
    return ms;
  };
  const sealed = field('privateKey');
  // A plain PEM would load with any passphrase; this file only ever holds sealed keys.
  if (!sealed.startsWith(LEGACY_PEM) && keyFileHeader(sealed) === null) {
    throw new KeyRingCorruptError('A key in the token key file is not encrypted.');
  }
  let opened;
  try {
    opened = openPrivateKey(sealed, passphrase);
  } catch (error) {
    if (error instanceof KeyFileCorruptError) {
      throw new KeyRingCorruptError(`A key in the token key file is damaged: ${error.message}.`, {
        cause: error,
      });
    }
    throw new KeyRingLockedError(
      'The token signing keys could not be decrypted: wrong passphrase, or a damaged key file.',
      { cause: error },
    );
  }
  const { privateKey, legacy } = opened;
  const base = { kid: field('kid'), privateKey, createdAt: time('createdAt') };
  const status = field('status');
  if (status === 'next') return { key: { ...base, status }, legacy };
  if (status === 'active') {
    return { key: { ...base, status, activatedAt: time('activatedAt') }, legacy };
  }
  if (status === 'retired') {
    return {
      key: {
        ...base,
        status,
        activatedAt: time('activatedAt'),
        retiredAt: time('retiredAt'),
        removeAfter: time('removeAfter'),
      },
      legacy,
    };
  }
  throw new KeyRingCorruptError('A key in the token key file has an unknown status.');
}
