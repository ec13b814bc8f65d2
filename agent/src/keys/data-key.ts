import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { DataKeyDestroyedError, KeyUnavailableError, SealedDataInvalidError } from '../errors.js';
import type { PlatformSecret } from './platform-secret.js';

const KEY_BYTES = 32;
const FORMAT_VERSION = 1;
const KEY_ID_BYTES = 8;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES;
const MIN_SEALED_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;

/**
 * The one key that encrypts every secret the agent keeps at rest (device key, password
 * verifiers, TOTP secrets, refresh tokens), so that destroying it alone makes all of them
 * unreadable (crypto-shred, docs/architecture.md §5).
 *
 * Sealed format, version 1: `0x01 ‖ keyId (8) ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)`.
 * The header is authenticated together with the caller's AAD. The AAD names the row and
 * purpose (e.g. `verifiers/usr_…/password`), so a ciphertext copied into another row, or
 * another purpose, fails to open instead of granting someone else's credential. The key id
 * tells "sealed under another data key" apart from tampering.
 */
export class DataKey {
  readonly id: string;
  private key: Buffer | null;

  private constructor(
    key: Buffer,
    private readonly secret: PlatformSecret,
  ) {
    this.key = key;
    this.id = keyIdOf(key).toString('hex');
  }

  /** Loads the existing data key; a device without one cannot read anything it stored. */
  static async load(secret: PlatformSecret): Promise<DataKey> {
    const stored = await secret.load();
    if (stored.state === 'destroyed') throw new DataKeyDestroyedError();
    if (stored.state === 'absent') {
      throw new KeyUnavailableError(`no data key in ${secret.description}`);
    }
    return new DataKey(checkedKey(stored.secret, secret), secret);
  }

  /** Used at enrollment: creates the key on first use, and returns the same key when retried. */
  static async loadOrCreate(secret: PlatformSecret): Promise<DataKey> {
    const stored = await secret.load();
    if (stored.state === 'destroyed') throw new DataKeyDestroyedError();
    if (stored.state === 'present') return new DataKey(checkedKey(stored.secret, secret), secret);
    const key = randomBytes(KEY_BYTES);
    // Losing the race to another process is fine: both then use the key that won.
    if (await secret.create(key)) return new DataKey(key, secret);
    return DataKey.load(secret);
  }

  get destroyed(): boolean {
    return this.key === null;
  }

  seal(plaintext: Uint8Array | string, aad: string): Buffer {
    const key = this.liveKey();
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt8(FORMAT_VERSION, 0);
    keyIdOf(key).copy(header, 1);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.concat([header, Buffer.from(aad, 'utf8')]));
    const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
    const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
    return Buffer.concat([header, nonce, ciphertext, cipher.getAuthTag()]);
  }

  open(sealed: Uint8Array, aad: string): Buffer {
    const key = this.liveKey();
    const blob = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (blob.length < MIN_SEALED_BYTES || blob.readUInt8(0) !== FORMAT_VERSION) {
      throw new SealedDataInvalidError('sealed data is truncated or of an unknown version');
    }
    const header = blob.subarray(0, HEADER_BYTES);
    if (!header.subarray(1).equals(keyIdOf(key))) {
      throw new SealedDataInvalidError('sealed data was sealed under another data key');
    }
    const nonce = blob.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
    const tag = blob.subarray(blob.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(Buffer.concat([header, Buffer.from(aad, 'utf8')]));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([
        decipher.update(blob.subarray(HEADER_BYTES + NONCE_BYTES, blob.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch (cause) {
      throw new SealedDataInvalidError('sealed data failed authentication for this AAD', {
        cause,
      });
    }
  }

  /**
   * A key for another purpose (`label`), derived with HKDF so it dies with the data key: e.g.
   * the MAC key of the TPM-counted state seal.
   */
  deriveKey(label: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.liveKey(), Buffer.alloc(0), label, KEY_BYTES));
  }

  /** Crypto-shred: after this, nothing sealed with this key can be opened, here or anywhere. */
  async destroy(): Promise<void> {
    this.key?.fill(0);
    this.key = null;
    await this.secret.destroy();
  }

  private liveKey(): Buffer {
    if (this.key === null) throw new DataKeyDestroyedError();
    return this.key;
  }
}

function keyIdOf(key: Buffer): Buffer {
  return createHmac('sha256', key)
    .update('lantern data key id v1')
    .digest()
    .subarray(0, KEY_ID_BYTES);
}

function checkedKey(key: Buffer, secret: PlatformSecret): Buffer {
  if (key.length !== KEY_BYTES) {
    throw new KeyUnavailableError(`the data key in ${secret.description} has the wrong length`);
  }
  return key;
}
