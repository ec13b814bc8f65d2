import { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { HeldKey, Pkcs11Token } from '../pki/pkcs11-token.js';
import type { KeyRingStore, TokenKey } from './key-ring-store.js';
import { KeyRingCorruptError } from '../errors.js';
import type { StoredKeyState } from './stored-key.js';
import { decodeKeyState, encodeKeyState, parseKeyRingFile, storedField } from './stored-key.js';
import { writeAtomically } from './write-atomically.js';

const FORMAT = 'lantern-token-keys-pkcs11/1';

interface StoredKey extends StoredKeyState {
  /** CKA_ID (hex) of the key pair on the token. */
  pkcs11Id: string;
}

/**
 * The token key ring with its private keys generated in and used from a PKCS#11 token. The file
 * keeps only each key's state, times and CKA_ID; a key the ring drops is destroyed on the token
 * once the file no longer names it. The file is what counts: a key it no longer names is in no
 * key set, so nothing it could still sign verifies anywhere; a destroy the token refuses is
 * tried again at the next save rather than failing a save that has already taken effect.
 */
export function pkcs11KeyRingStore(path: string, token: Pkcs11Token): KeyRingStore {
  // The ids this process saw on the token: the file's, and those a destroy has yet to succeed for.
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
      const keys = parseKeyRingFile<StoredKey>(text, FORMAT).map((stored) =>
        decodeKey(stored, token),
      );
      // Added to, not replaced: a key a failed save already dropped from the file (the ring then
      // reloads it) is still destroyed at the next save.
      for (const key of keys) known.add(held(key).id);
      return { keys };
    },
    save(state) {
      const keys = state.keys.map((key) => encodeKey(key, held(key).id));
      writeAtomically(path, `${JSON.stringify({ format: FORMAT, keys }, null, 2)}\n`);
      const kept = new Set(keys.map((key) => key.pkcs11Id));
      const dropped = [...known].filter((id) => !kept.has(id));
      known = kept;
      for (const id of dropped) {
        try {
          token.destroyKey(id);
        } catch {
          known.add(id);
        }
      }
    },
    generateKey: () => token.generateKey('lantern-token-key'),
  };
}

function encodeKey(key: TokenKey, pkcs11Id: string): StoredKey {
  return { ...encodeKeyState(key), pkcs11Id };
}

function decodeKey(stored: StoredKey, token: Pkcs11Token): TokenKey {
  return decodeKeyState(stored, token.key(storedField(stored, 'pkcs11Id')));
}
