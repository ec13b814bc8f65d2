import type { KeyObject } from 'node:crypto';
import { constants, createCipheriv, createHmac, publicEncrypt, randomBytes } from 'node:crypto';
import { u16, u32 } from './tpm-structures.js';

/** tpm2-tools' credential file (`tpm2_activatecredential -i`): magic, version, blob, secret. */
const TOOLS_MAGIC = 0xbadcc0de;
const TOOLS_VERSION = 1;

/**
 * TPM2_MakeCredential done by the CA in software (TPM 2.0 Part 1 §24, Part 3 §12.6) for an RSA
 * endorsement key with the TCG default template (nameAlg SHA-256, AES-128-CFB): the credential
 * comes out of TPM2_ActivateCredential only on the TPM holding that EK's private key, and only
 * while an object named `objectName` (the attestation key) is loaded there.
 */
export function makeCredential(
  ekPublicKey: KeyObject,
  objectName: Buffer,
  credential: Buffer,
): Buffer {
  const seed = randomBytes(32);
  const encryptedSeed = publicEncrypt(
    {
      key: ekPublicKey,
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
      oaepLabel: Buffer.from('IDENTITY\0', 'latin1'),
    },
    seed,
  );
  const symKey = kdfa(seed, 'STORAGE', objectName, Buffer.alloc(0), 128);
  const cipher = createCipheriv('aes-128-cfb', symKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([
    cipher.update(Buffer.concat([u16(credential.length), credential])),
    cipher.final(),
  ]);
  const hmacKey = kdfa(seed, 'INTEGRITY', Buffer.alloc(0), Buffer.alloc(0), 256);
  const outerHmac = createHmac('sha256', hmacKey).update(encIdentity).update(objectName).digest();
  const idObject = Buffer.concat([u16(outerHmac.length), outerHmac, encIdentity]);
  seed.fill(0);
  return Buffer.concat([
    u32(TOOLS_MAGIC),
    u32(TOOLS_VERSION),
    u16(idObject.length),
    idObject,
    u16(encryptedSeed.length),
    encryptedSeed,
  ]);
}

/** KDFa with HMAC-SHA-256 (SP 800-108 counter mode, TPM 2.0 Part 1 §11.4.10.2). */
function kdfa(
  key: Buffer,
  label: string,
  contextU: Buffer,
  contextV: Buffer,
  bits: number,
): Buffer {
  const out: Buffer[] = [];
  for (let counter = 1; out.length * 32 * 8 < bits; counter++) {
    out.push(
      createHmac('sha256', key)
        .update(u32(counter))
        .update(Buffer.from(`${label}\0`, 'latin1'))
        .update(contextU)
        .update(contextV)
        .update(u32(bits))
        .digest(),
    );
  }
  return Buffer.concat(out).subarray(0, bits / 8);
}
