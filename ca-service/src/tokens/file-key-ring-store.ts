import { KeyObject, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { KeyRingStore, TokenKey } from './key-ring-store.js';
import { KeyRingCorruptError, KeyRingLockedError } from '../errors.js';
import { writeAtomically } from './write-atomically.js';

const FORMAT = 'lantern-token-keys/1';
const ENCRYPTED_PEM = '-----BEGIN ENCRYPTED PRIVATE KEY-----';

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
 * The key ring as one JSON file (mode 0600) whose private keys are encrypted PKCS#8 PEM: a
 * copied file or backup is useless without the passphrase. Saves go to a temporary file that
 * is flushed and renamed over the old one, so a crash never leaves half a key ring.
 */
export function fileKeyRingStore(path: string, passphrase: string): KeyRingStore {
  if (passphrase === '') throw new KeyRingLockedError('The token key ring needs a passphrase.');
  return {
    load() {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
      return { keys: parseKeyFile(text).map((stored) => decodeKey(stored, passphrase)) };
    },
    save(state) {
      const keys = state.keys.map((key) => encodeKey(key, passphrase));
      writeAtomically(path, `${JSON.stringify({ format: FORMAT, keys }, null, 2)}\n`);
    },
  };
}

function encodeKey(key: TokenKey, passphrase: string): StoredKey {
  const iso = (ms: number) => new Date(ms).toISOString();
  if (!(key.privateKey instanceof KeyObject)) {
    throw new KeyRingCorruptError('A key held by a PKCS#11 token cannot go into the key file.');
  }
  const privateKey = key.privateKey.export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase,
  }) as string;
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

function decodeKey(stored: StoredKey, passphrase: string): TokenKey {
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
  const pem = field('privateKey');
  // A plain PEM would load with any passphrase; this file only ever holds encrypted ones.
  if (!pem.startsWith(ENCRYPTED_PEM)) {
    throw new KeyRingCorruptError('A key in the token key file is not encrypted.');
  }
  let privateKey;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem', passphrase });
  } catch (error) {
    throw new KeyRingLockedError(
      'The token signing keys could not be decrypted: wrong passphrase, or a damaged key file.',
      { cause: error },
    );
  }
  const base = { kid: field('kid'), privateKey, createdAt: time('createdAt') };
  const status = field('status');
  if (status === 'next') return { ...base, status };
  if (status === 'active') return { ...base, status, activatedAt: time('activatedAt') };
  if (status === 'retired') {
    return {
      ...base,
      status,
      activatedAt: time('activatedAt'),
      retiredAt: time('retiredAt'),
      removeAfter: time('removeAfter'),
    };
  }
  throw new KeyRingCorruptError('A key in the token key file has an unknown status.');
}
