import type { KeyObject } from 'node:crypto';
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from 'node:crypto';
import { base64urlDecode } from './base64url.js';
import { isP256Key } from './p256.js';

/**
 * A secret sealed to one device key (an ECIES): ECDH P-256 between a fresh ephemeral key and
 * the device's binding key, HKDF-SHA256 over the shared secret with both public keys in `info`,
 * AES-256-GCM with the caller's `context` string as additional data. Only the holder of the
 * device's private key opens it; a box copied into another context (another grant) fails.
 */
export const DEVICE_SEALED_BOX_ALG = 'ECDH-ES+A256GCM';

export interface DeviceSealedBox {
  alg: typeof DEVICE_SEALED_BOX_ALG;
  /** The ephemeral public key, as a JWK. */
  epk: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
  /** base64url, 12 bytes. */
  iv: string;
  /** base64url. */
  ciphertext: string;
  /** base64url, 16 bytes. */
  tag: string;
}

/** One error for every way opening fails: the caller learns nothing about which step broke. */
export class SealedBoxError extends Error {
  constructor() {
    super('the sealed box cannot be opened with this key and context');
    this.name = 'SealedBoxError';
  }
}

const KDF_LABEL = Buffer.from('lantern/device-sealed-box/v1\0', 'utf8');
const IV_BYTES = 12;
const TAG_BYTES = 16;

function point(key: KeyObject): Buffer {
  const { x, y } = key.export({ format: 'jwk' });
  if (typeof x !== 'string' || typeof y !== 'string') throw new TypeError('EC key without x/y');
  return Buffer.concat([Buffer.of(4), Buffer.from(x, 'base64url'), Buffer.from(y, 'base64url')]);
}

function contentKey(shared: Buffer, ephemeral: KeyObject, recipient: KeyObject): Buffer {
  const info = Buffer.concat([KDF_LABEL, point(ephemeral), point(recipient)]);
  return Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), info, 32));
}

/** Seals `plaintext` to a P-256 public key (e.g. a binding certificate's subject key). */
export function sealForDevice(
  recipient: KeyObject,
  plaintext: Uint8Array,
  context = '',
): DeviceSealedBox {
  if (recipient.type !== 'public' || !isP256Key(recipient)) {
    throw new TypeError('sealForDevice needs an EC P-256 public key');
  }
  const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  const key = contentKey(shared, ephemeral.publicKey, recipient);
  shared.fill(0);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  key.fill(0);
  const { x, y } = ephemeral.publicKey.export({ format: 'jwk' });
  return {
    alg: DEVICE_SEALED_BOX_ALG,
    epk: { kty: 'EC', crv: 'P-256', x: String(x), y: String(y) },
    iv: iv.toString('base64url'),
    ciphertext: ciphertext.toString('base64url'),
    tag: cipher.getAuthTag().toString('base64url'),
  };
}

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SealedBoxError();
  }
  return value as Record<string, unknown>;
}

function bytes(value: unknown, length?: number): Buffer {
  if (typeof value !== 'string') throw new SealedBoxError();
  let decoded: Uint8Array;
  try {
    decoded = base64urlDecode(value);
  } catch {
    throw new SealedBoxError();
  }
  if (length !== undefined && decoded.byteLength !== length) throw new SealedBoxError();
  return Buffer.from(decoded);
}

/**
 * Opens a box from {@link sealForDevice} with the device's private key and the same `context`.
 * Takes the box as received (unknown JSON): every field is checked before use. Throws
 * {@link SealedBoxError} for a malformed box, another key, another context or tampering.
 */
export function decryptForDevice(privateKey: KeyObject, bundle: unknown, context = ''): Uint8Array {
  if (privateKey.type !== 'private' || !isP256Key(privateKey)) {
    throw new TypeError('decryptForDevice needs an EC P-256 private key');
  }
  return openDeviceSealedBox(
    createPublicKey(privateKey),
    (ephemeral) => diffieHellman({ privateKey, publicKey: ephemeral }),
    bundle,
    context,
  );
}

/**
 * {@link decryptForDevice} for a private key that cannot leave its hardware: `ecdh` returns the
 * ECDH shared secret (the x coordinate) of the device key with the box's ephemeral key, as a
 * TPM's `ECDH_ZGen` does. The ephemeral key given to it has already been checked to lie on
 * the curve.
 */
export function openDeviceSealedBox(
  recipient: KeyObject,
  ecdh: (ephemeral: KeyObject) => Buffer,
  bundle: unknown,
  context = '',
): Uint8Array {
  const box = asObject(bundle);
  if (box['alg'] !== DEVICE_SEALED_BOX_ALG) throw new SealedBoxError();
  const epk = asObject(box['epk']);
  if (epk['kty'] !== 'EC' || epk['crv'] !== 'P-256') throw new SealedBoxError();
  const x = bytes(epk['x'], 32);
  const y = bytes(epk['y'], 32);
  const iv = bytes(box['iv'], IV_BYTES);
  const tag = bytes(box['tag'], TAG_BYTES);
  const ciphertext = bytes(box['ciphertext']);
  let ephemeral: KeyObject;
  try {
    // Import checks that the point lies on the curve (no invalid-curve attack).
    ephemeral = createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: x.toString('base64url'), y: y.toString('base64url') },
      format: 'jwk',
    });
  } catch {
    throw new SealedBoxError();
  }
  const shared = ecdh(ephemeral);
  const key = contentKey(shared, ephemeral, recipient);
  shared.fill(0);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  } catch {
    throw new SealedBoxError();
  } finally {
    key.fill(0);
  }
}

/**
 * The TOTP secret the CA delivers with an offline grant (`offlineGrant.totp`), so the agent can
 * check codes offline. `notBeforeStep`: the first time step the agent may accept (the CA has
 * already used every earlier one).
 */
export interface OfflineTotpSecret {
  /** RFC 4648 base32, no padding. */
  secret: string;
  algorithm: 'SHA1' | 'SHA256' | 'SHA512';
  digits: number;
  period: number;
  notBeforeStep: number;
}

/** The sealing context of an offline TOTP box: it opens only beside its own grant. */
export const offlineTotpContext = (grantId: string): string => `lantern-offline-totp:${grantId}`;

/**
 * Opens a sealed box inside whatever holds the device key (a TPM-backed key never hands its
 * private half to `decryptForDevice`); throws {@link SealedBoxError} as that does.
 */
export interface SealedBoxOpener {
  openSealedBox(bundle: unknown, context: string): Uint8Array;
}

/** `decryptForDevice` plus the shape check of the TOTP payload, for the agent. */
export function openOfflineTotp(
  key: KeyObject | SealedBoxOpener,
  bundle: unknown,
  grantId: string,
): OfflineTotpSecret {
  const context = offlineTotpContext(grantId);
  const plaintext =
    'openSealedBox' in key
      ? key.openSealedBox(bundle, context)
      : decryptForDevice(key, bundle, context);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(plaintext).toString('utf8'));
  } catch {
    throw new SealedBoxError();
  } finally {
    plaintext.fill(0);
  }
  const value = asObject(parsed);
  const { secret, algorithm, digits, period, notBeforeStep } = value;
  if (
    typeof secret !== 'string' ||
    !/^[A-Z2-7]+$/.test(secret) ||
    (algorithm !== 'SHA1' && algorithm !== 'SHA256' && algorithm !== 'SHA512') ||
    !Number.isInteger(digits) ||
    !Number.isInteger(period) ||
    !Number.isInteger(notBeforeStep)
  ) {
    throw new SealedBoxError();
  }
  return {
    secret,
    algorithm,
    digits: digits as number,
    period: period as number,
    notBeforeStep: notBeforeStep as number,
  };
}
