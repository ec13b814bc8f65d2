import { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { HeldKey, Pkcs11Token } from '../pki/pkcs11-token.js';
import type { KeyRingStore, TokenKey } from './key-ring-store.js';
import { KeyRingCorruptError } from '../errors.js';
import { writeAtomically } from './write-atomically.js';

const FORMAT = 'lantern-token-keys-pkcs11/1';

interface StoredKey {
  kid: string;
  status: TokenKey['status'];
  /** CKA_ID (hex) of the key pair on the token. */
  pkcs11Id: string;
  createdAt: string;
  activatedAt?: string;
  retiredAt?: string;
  removeAfter?: string;
}

/**
 * The token key ring with its private keys generated in and used from a PKCS#11 token. The file
 * keeps only each key's state, times and CKA_ID; a key the ring drops is destroyed on the token
 * once the file no longer names it.
 */
export function pkcs11KeyRingStore(path: string, token: Pkcs11Token): KeyRingStore {
  let known = new Set<string>();
  const held = (key: TokenKey): HeldKey => {
    if (!(key.privateKey instanceof KeyObject)) return key.privateKey;
    throw new KeyRingCorruptError(`Key ${key.kid} is not on the PKCS#11 token.`);
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
      const keys = parseKeyFile(text).map((stored) => decodeKey(stored, token));
      known = new Set(keys.map((key) => held(key).id));
      return { keys };
    },
    save(state) {
      const keys = state.keys.map((key) => encodeKey(key, held(key).id));
      writeAtomically(path, `${JSON.stringify({ format: FORMAT, keys }, null, 2)}\n`);
      const kept = new Set(keys.map((key) => key.pkcs11Id));
      for (const id of known) if (!kept.has(id)) token.destroyKey(id);
      known = kept;
    },
    generateKey: () => token.generateKey('lantern-token-key'),
  };
}

function encodeKey(key: TokenKey, pkcs11Id: string): StoredKey {
  const iso = (ms: number) => new Date(ms).toISOString();
  const stored: StoredKey = {
    kid: key.kid,
    status: key.status,
    pkcs11Id,
    createdAt: iso(key.createdAt),
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

function decodeKey(stored: StoredKey, token: Pkcs11Token): TokenKey {
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
  const base = {
    kid: field('kid'),
    privateKey: token.key(field('pkcs11Id')),
    createdAt: time('createdAt'),
  };
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
