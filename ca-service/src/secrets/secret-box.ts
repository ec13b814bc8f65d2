import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';

/**
 * Encryption at rest for secrets the CA must be able to read back (TOTP seeds), kept in tables
 * beside the events and never in them.
 *
 * Key: scrypt (N=2^15, r=8, p=1) of the CA passphrase, salted with this installation's root
 * certificate fingerprint, so the key exists only where the CA keys can be unlocked: a copied
 * database, or a copy of the data directory without the passphrase, reveals no seed. (A dev
 * setup whose passphrase file sits in the data dir gets what the CA keys get there too.)
 * Derived on first use, so a CA that never touches MFA pays no KDF at start.
 *
 * Cipher: AES-256-GCM, a fresh 96-bit IV per seal; the additional data names the row (e.g.
 * `totp:<userId>`), so a sealed value copied to another user's row does not open. Format:
 * `lsb1.<kid>.<iv>.<ciphertext>.<tag>` (base64url), `kid` = 8 bytes of SHA-256 over the key: a
 * changed passphrase shows as an unknown kid rather than as corruption, and a re-encryption
 * tool can tell old rows from new ones.
 */
export interface SecretBox {
  seal(plaintext: Uint8Array, aad: string): string;
  /** Throws {@link SecretBoxError} when the value is not ours, damaged, or for another row. */
  open(sealed: string, aad: string): Buffer;
}

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

const FORMAT = 'lsb1';
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

export function passphraseSecretBox(passphrase: string, installationSalt: string): SecretBox {
  if (passphrase === '') throw new SecretBoxError('the secret box needs a passphrase');
  let derived: { key: Buffer; kid: string } | undefined;
  const key = () => {
    if (derived === undefined) {
      const bytes = scryptSync(
        passphrase,
        `lantern-ca/secret-box/v1:${installationSalt}`,
        32,
        SCRYPT,
      );
      derived = {
        key: bytes,
        kid: createHash('sha256')
          .update('kid')
          .update(bytes)
          .digest()
          .subarray(0, 8)
          .toString('base64url'),
      };
    }
    return derived;
  };
  return {
    seal(plaintext, aad) {
      const { key: secret, kid } = key();
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', secret, iv);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return [FORMAT, kid, iv, ciphertext, cipher.getAuthTag()]
        .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
        .join('.');
    },
    open(sealed, aad) {
      const parts = sealed.split('.');
      const [format, kid, iv, ciphertext, tag] = parts;
      if (parts.length !== 5 || format !== FORMAT || !iv || !ciphertext || !tag) {
        throw new SecretBoxError('not a sealed secret');
      }
      const { key: secret, kid: ours } = key();
      if (kid !== ours) {
        throw new SecretBoxError('sealed with another key (was the CA passphrase changed?)');
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', secret, Buffer.from(iv, 'base64url'), {
          authTagLength: 16,
        });
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([
          decipher.update(Buffer.from(ciphertext, 'base64url')),
          decipher.final(),
        ]);
      } catch {
        throw new SecretBoxError('the sealed secret is damaged or belongs to another row');
      }
    },
  };
}
