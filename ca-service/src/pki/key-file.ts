import type { Algorithm } from '@node-rs/argon2';
import { hashRawSync } from '@node-rs/argon2';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { KeyFileCorruptError, KeyPassphraseWrongError } from '../errors.js';

/**
 * Private keys at rest (issuing CA, root, token keys), format 2:
 *
 *   lantern-key/2$argon2id$m=47104,t=1,p=1$<salt>$<check>$<iv>$<ciphertext ‖ tag>
 *
 * (base64url fields). Argon2id (OWASP's 46 MiB, one pass) stretches the passphrase into 64
 * bytes: the first 32 are the AES-256-GCM key over the PKCS#8 DER, the last 8 of the rest are
 * `check`, so a wrong passphrase is told apart from a damaged file. Everything before `check`
 * is the additional data: lowered parameters or a swapped salt fail like a damaged file.
 *
 * Format 1 was OpenSSL's encrypted PKCS#8 PEM (PBES2, PBKDF2-HMAC-SHA256 at 2048 iterations,
 * AES-256-CBC): about 2 ms of a GPU per guess. It is still read, and {@link openPrivateKey} says
 * so, for the caller to write the key back in format 2.
 */
const FORMAT = 'lantern-key/2';
const LEGACY_PEM = '-----BEGIN ENCRYPTED PRIVATE KEY-----';
export const KEY_FILE_ARGON2ID = { m: 47_104, t: 1, p: 1 } as const;
/** What a (tampered) file may ask of the KDF: up to 1 GiB, 16 passes, 16 lanes. */
const BOUNDS = { m: [8, 1024 * 1024], t: [1, 16], p: [1, 16] } as const;
// The binding's enum is a `const enum` in its typings, which isolated modules cannot inline.
const ARGON2ID = 2 as Algorithm;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

interface Derived {
  key: Buffer;
  check: Buffer;
}

/**
 * One derivation per passphrase and header in a process: a key ring of three keys, or a file
 * written and read back at start, costs one Argon2id run, not one per key.
 */
const derivations = new Map<string, Derived>();

function derive(passphrase: string, header: string): Derived {
  const id = createHash('sha256').update(passphrase).update('\0').update(header).digest('hex');
  const known = derivations.get(id);
  if (known) return known;
  const [, kdf, params, salt] = header.split('$');
  const match = /^m=(\d{1,8}),t=(\d{1,2}),p=(\d{1,2})$/.exec(params ?? '');
  const m = Number(match?.[1]);
  const t = Number(match?.[2]);
  const p = Number(match?.[3]);
  const saltBytes = Buffer.from(salt ?? '', 'base64url');
  if (
    kdf !== 'argon2id' ||
    !match ||
    m < BOUNDS.m[0] ||
    m > BOUNDS.m[1] ||
    t < BOUNDS.t[0] ||
    t > BOUNDS.t[1] ||
    p < BOUNDS.p[0] ||
    p > BOUNDS.p[1] ||
    saltBytes.length < 16
  ) {
    throw new KeyFileCorruptError('the key file names a KDF or parameters this CA does not use');
  }
  const out = hashRawSync(passphrase, {
    algorithm: ARGON2ID,
    memoryCost: m,
    timeCost: t,
    parallelism: p,
    outputLen: 64,
    salt: saltBytes,
  });
  const derived = { key: out.subarray(0, 32), check: out.subarray(56, 64) };
  if (derivations.size >= 64) derivations.clear();
  derivations.set(id, derived);
  return derived;
}

function newHeader(): string {
  const { m, t, p } = KEY_FILE_ARGON2ID;
  return `${FORMAT}$argon2id$m=${m},t=${t},p=${p}$${b64(randomBytes(16))}`;
}

/** The KDF part of a format-2 key (to seal more keys under the same derivation), else null. */
export function keyFileHeader(text: string): string | null {
  if (!text.startsWith(`${FORMAT}$`)) return null;
  const parts = text.trim().split('$');
  return parts.length === 7 ? parts.slice(0, 4).join('$') : null;
}

/** Seals a private key in format 2; `header` reuses the salt (and derivation) of another file. */
export function sealPrivateKey(privateKey: KeyObject, passphrase: string, header?: string): string {
  if (passphrase === '') throw new KeyPassphraseWrongError('a key file needs a passphrase');
  const head = header ?? newHeader();
  const { key, check } = derive(passphrase, head);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(head, 'utf8'));
  const der = privateKey.export({ type: 'pkcs8', format: 'der' });
  const sealed = Buffer.concat([cipher.update(der), cipher.final(), cipher.getAuthTag()]);
  der.fill(0);
  return `${head}$${b64(check)}$${b64(iv)}$${b64(sealed)}\n`;
}

export interface OpenedKey {
  privateKey: KeyObject;
  /** Read from format 1: the caller writes it back sealed in format 2. */
  legacy: boolean;
}

/**
 * Opens format 2, or format 1 (legacy: true). A wrong passphrase throws
 * {@link KeyPassphraseWrongError}; a file that is neither, or is damaged, {@link KeyFileCorruptError}.
 */
export function openPrivateKey(contents: string | Buffer, passphrase: string): OpenedKey {
  const text = contents.toString();
  if (text.startsWith(LEGACY_PEM)) {
    try {
      return {
        privateKey: createPrivateKey({ key: text, format: 'pem', passphrase }),
        legacy: true,
      };
    } catch (error) {
      // PBES2-CBC cannot tell a wrong passphrase from damage (both are a bad padding).
      throw new KeyPassphraseWrongError(
        'the key file (old PBKDF2 format) did not open: wrong passphrase, or a damaged file',
        { cause: error },
      );
    }
  }
  const header = keyFileHeader(text);
  if (header === null) throw new KeyFileCorruptError('not a Lantern key file');
  const [, , , , check, iv, sealed] = text.trim().split('$');
  const { key, check: expected } = derive(passphrase, header);
  const checkBytes = Buffer.from(check ?? '', 'base64url');
  if (checkBytes.length !== expected.length || !timingSafeEqual(checkBytes, expected)) {
    throw new KeyPassphraseWrongError('the key file does not open with this passphrase');
  }
  const ivBytes = Buffer.from(iv ?? '', 'base64url');
  const sealedBytes = Buffer.from(sealed ?? '', 'base64url');
  if (ivBytes.length !== 12 || sealedBytes.length <= 16) {
    throw new KeyFileCorruptError('the key file is cut short');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, ivBytes, { authTagLength: 16 });
    decipher.setAAD(Buffer.from(header, 'utf8'));
    decipher.setAuthTag(sealedBytes.subarray(-16));
    const der = Buffer.concat([decipher.update(sealedBytes.subarray(0, -16)), decipher.final()]);
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    der.fill(0);
    return { privateKey, legacy: false };
  } catch (error) {
    throw new KeyFileCorruptError('the key file is damaged (its seal does not verify)', {
      cause: error,
    });
  }
}
