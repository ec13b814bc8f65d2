import { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { KeyRingStore, TokenKey } from './key-ring-store.js';
import { KeyFileCorruptError, KeyRingCorruptError, KeyRingLockedError } from '../errors.js';
import { keyFileHeader, openPrivateKey, sealPrivateKey } from '../pki/key-file.js';
import type { StoredKeyState } from './stored-key.js';
import { decodeKeyState, encodeKeyState, parseKeyRingFile, storedField } from './stored-key.js';
import { writeAtomically } from './write-atomically.js';

const FORMAT = 'lantern-token-keys/1';
const LEGACY_PEM = '-----BEGIN ENCRYPTED PRIVATE KEY-----';

interface StoredKey extends StoredKeyState {
  privateKey: string;
}

/** Where a sealed key ring's text is kept: a file, or a row several CA instances share. */
export interface KeyRingText {
  /** Null when nothing has been saved yet. */
  read(): Promise<string | null> | string | null;
  write(text: string): Promise<void> | void;
  /** See `KeyRingStore.changed`. */
  changed?(): Promise<boolean> | boolean;
}

/**
 * The key ring as one JSON file (mode 0600) whose private keys are sealed (pki/key-file.ts): a
 * copied file or backup is useless without the passphrase. Saves go to a temporary file that
 * is flushed and renamed over the old one, so a crash never leaves half a key ring.
 */
export function fileKeyRingStore(path: string, passphrase: string): KeyRingStore {
  return sealedKeyRingStore(fileKeyRingText(path), passphrase);
}

export function fileKeyRingText(path: string): KeyRingText {
  return {
    read() {
      try {
        return readFileSync(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    write: (text) => writeAtomically(path, text),
  };
}

/** The key ring's JSON, its private keys sealed under the passphrase, wherever `text` keeps it. */
export function sealedKeyRingStore(text: KeyRingText, passphrase: string): KeyRingStore {
  if (passphrase === '') throw new KeyRingLockedError('The token key ring needs a passphrase.');
  // Every key of the file under one Argon2id derivation (pki/key-file.ts): one KDF run a start.
  let header: string | undefined;
  const save = async (state: { keys: readonly TokenKey[] }) => {
    const keys = state.keys.map((key) => {
      const stored = encodeKey(key, passphrase, header);
      header ??= keyFileHeader(stored.privateKey) ?? undefined;
      return stored;
    });
    await text.write(`${JSON.stringify({ format: FORMAT, keys }, null, 2)}\n`);
  };
  return {
    async load() {
      const saved = await text.read();
      if (saved === null) return null;
      let legacy = false;
      const keys = parseKeyRingFile<StoredKey>(saved, FORMAT).map((stored) => {
        const decoded = decodeKey(stored, passphrase);
        legacy ||= decoded.legacy;
        header ??= keyFileHeader(stored.privateKey) ?? undefined;
        return decoded.key;
      });
      // Keys written with PBKDF2 (2048 iterations) go back to disk sealed the new way now.
      if (legacy) await save({ keys });
      return { keys };
    },
    save,
    ...(text.changed === undefined ? {} : { changed: text.changed }),
  };
}

function encodeKey(key: TokenKey, passphrase: string, header: string | undefined): StoredKey {
  if (!(key.privateKey instanceof KeyObject)) {
    throw new KeyRingCorruptError('A key held by a PKCS#11 token cannot go into the key file.');
  }
  return { ...encodeKeyState(key), privateKey: sealPrivateKey(key.privateKey, passphrase, header) };
}

function decodeKey(stored: StoredKey, passphrase: string): { key: TokenKey; legacy: boolean } {
  const sealed = storedField(stored, 'privateKey');
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
  return { key: decodeKeyState(stored, privateKey), legacy };
}
