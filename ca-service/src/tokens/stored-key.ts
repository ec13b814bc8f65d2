import { KeyRingCorruptError } from '../errors.js';
import type { TokenKey } from './key-ring-store.js';

/** What each token key file keeps of a key besides where its private half is: id, state, times. */
export interface StoredKeyState {
  kid: string;
  status: TokenKey['status'];
  createdAt: string;
  activatedAt?: string;
  retiredAt?: string;
  removeAfter?: string;
}

export function encodeKeyState(key: TokenKey): StoredKeyState {
  const iso = (ms: number) => new Date(ms).toISOString();
  const stored: StoredKeyState = {
    kid: key.kid,
    status: key.status,
    createdAt: iso(key.createdAt),
  };
  if (key.status !== 'next') stored.activatedAt = iso(key.activatedAt);
  if (key.status === 'retired') {
    stored.retiredAt = iso(key.retiredAt);
    stored.removeAfter = iso(key.removeAfter);
  }
  return stored;
}

/** The keys of a token key file in `format`; anything else is `key_ring_corrupt`. */
export function parseKeyRingFile<Stored>(text: string, format: string): Stored[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new KeyRingCorruptError('The token key file is not JSON.', { cause: error });
  }
  const file = parsed as { format?: unknown; keys?: unknown } | null;
  if (file?.format !== format || !Array.isArray(file.keys)) {
    throw new KeyRingCorruptError(`The token key file is not in the ${format} format.`);
  }
  return file.keys as Stored[];
}

/** A string field of a stored key, or `key_ring_corrupt` naming it. */
export function storedField(stored: object | null, name: string): string {
  const value = (stored as Record<string, unknown> | null)?.[name];
  if (typeof value !== 'string') {
    throw new KeyRingCorruptError(`A key in the token key file has no ${name}.`);
  }
  return value;
}

/** The key ring's view of a stored key whose private half `privateKey` is. */
export function decodeKeyState(
  stored: object | null,
  privateKey: TokenKey['privateKey'],
): TokenKey {
  const time = (name: 'createdAt' | 'activatedAt' | 'retiredAt' | 'removeAfter'): number => {
    const ms = Date.parse(storedField(stored, name));
    if (!Number.isFinite(ms)) throw new KeyRingCorruptError(`A key has an invalid ${name}.`);
    return ms;
  };
  const base = { kid: storedField(stored, 'kid'), privateKey, createdAt: time('createdAt') };
  const status = storedField(stored, 'status');
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
