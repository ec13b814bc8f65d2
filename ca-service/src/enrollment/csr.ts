import type { DerValue } from '@lantern/shared';
import {
  TAG,
  bitStringValue,
  childrenOf,
  fromPem,
  oidValue,
  readDer,
  smallUnsigned,
} from '@lantern/shared';
import type { KeyObject } from 'node:crypto';
import { createPublicKey, verify } from 'node:crypto';
import {
  CsrExtensionNotAllowedError,
  CsrInvalidError,
  CsrSignatureInvalidError,
  KeyPolicyViolationError,
} from '../errors.js';

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const MAX_CSR_PEM_LENGTH = 8192;

export interface ParsedCsr {
  subjectPublicKeyInfo: Buffer;
  /** The requested subject Name (DER); the device profile ignores it, the offline root reads its CN. */
  subject: Buffer;
  publicKey: KeyObject;
}

function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return `RSA-${details?.modulusLength ?? '?'}`;
  if (key.asymmetricKeyType === 'ec') return `EC ${details?.namedCurve ?? '?'}`;
  return key.asymmetricKeyType ?? 'unknown';
}

interface CsrParts {
  info: DerValue;
  spki: DerValue;
  subject: DerValue;
  signatureAlgorithm: string;
  signature: Uint8Array;
  attributeTypes: string[];
}

/** RFC 2986 §4 with the strict DER reader: a non-DER request is refused, not reinterpreted. */
function csrParts(der: Uint8Array): CsrParts {
  const outer = childrenOf(readDer(der, TAG.sequence));
  const info = outer.read(TAG.sequence);
  const algorithm = childrenOf(outer.read(TAG.sequence));
  const signatureAlgorithm = oidValue(algorithm.read(TAG.oid));
  if (!algorithm.done) algorithm.read();
  algorithm.finish();
  const signature = bitStringValue(outer.read(TAG.bitString));
  if (signature.unusedBits !== 0) throw new TypeError('signature is not whole octets');
  outer.finish();

  const fields = childrenOf(info);
  if (smallUnsigned(fields.read(TAG.integer)) !== 0) throw new TypeError('CSR version is not 1');
  const subject = fields.read(TAG.sequence);
  const spki = fields.read(TAG.sequence);
  const attributes = childrenOf(fields.read(0xa0));
  fields.finish();
  const attributeTypes: string[] = [];
  while (!attributes.done) {
    const attribute = childrenOf(attributes.read(TAG.sequence));
    attributeTypes.push(oidValue(attribute.read(TAG.oid)));
    attribute.read(TAG.set);
    attribute.finish();
  }
  return { info, spki, subject, signatureAlgorithm, signature: signature.bytes, attributeTypes };
}

const P256_SPKI_PREFIX = Buffer.from(
  '3059301306072a8648ce3d020106082a8648ce3d03010703420004',
  'hex',
);

const P256_SPKI_LENGTH = P256_SPKI_PREFIX.length + 64;

const isCanonicalP256 = (spki: Uint8Array): boolean =>
  spki.length === P256_SPKI_LENGTH &&
  P256_SPKI_PREFIX.equals(spki.subarray(0, P256_SPKI_PREFIX.length));

/**
 * The usual case — a named-curve P-256 key, uncompressed — imports from its coordinates:
 * OpenSSL 3's DER decoder costs ~1 ms a key here, the JWK import a fifth of that, and checks
 * the point is on the curve all the same. Anything else goes through the decoder.
 */
function importSpki(spki: Uint8Array): KeyObject {
  if (isCanonicalP256(spki)) {
    const point = Buffer.from(spki.subarray(P256_SPKI_PREFIX.length));
    return createPublicKey({
      format: 'jwk',
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(0, 32).toString('base64url'),
        y: point.subarray(32).toString('base64url'),
      },
    });
  }
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

/**
 * One SPKI per key (named curve, uncompressed point) whatever form the device sent, so the
 * certificate and every later comparison of keys see the same bytes.
 */
function canonicalP256Spki(publicKey: KeyObject): Buffer {
  const { x, y } = publicKey.export({ format: 'jwk' });
  return Buffer.concat([
    P256_SPKI_PREFIX,
    Buffer.from(x ?? '', 'base64url'),
    Buffer.from(y ?? '', 'base64url'),
  ]);
}

/**
 * Proof of possession and key policy for a PKCS#10 request: only ECDSA P-256 keys (what TPMs,
 * Secure Enclaves, Android Keystore and WebAuthn all have), signed with ecdsa-with-SHA256, no
 * requested extensions (the profile decides every extension).
 */
export function parseDeviceCsr(pem: string): ParsedCsr {
  if (pem.length > MAX_CSR_PEM_LENGTH) throw new CsrInvalidError('CSR is larger than 8 KiB');
  let parts: CsrParts;
  try {
    parts = csrParts(fromPem(pem, 'CERTIFICATE REQUEST'));
  } catch {
    throw new CsrInvalidError('CSR is not a PEM-encoded PKCS#10 certificate request');
  }
  let publicKey: KeyObject;
  try {
    publicKey = importSpki(parts.spki.raw);
  } catch {
    throw new CsrInvalidError('CSR public key cannot be decoded');
  }
  if (
    publicKey.asymmetricKeyType !== 'ec' ||
    publicKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1'
  ) {
    throw new KeyPolicyViolationError(
      `key ${describeKey(publicKey)} is not allowed; device keys must be ECDSA P-256`,
    );
  }
  if (parts.signatureAlgorithm !== OID_ECDSA_WITH_SHA256) {
    throw new CsrSignatureInvalidError(`CSR must be signed with ecdsa-with-SHA256`);
  }
  let valid = false;
  try {
    valid = verify(
      'sha256',
      parts.info.raw,
      { key: publicKey, dsaEncoding: 'der' },
      parts.signature,
    );
  } catch {
    valid = false;
  }
  if (!valid) throw new CsrSignatureInvalidError();
  if (parts.attributeTypes.includes(OID_EXTENSION_REQUEST)) {
    throw new CsrExtensionNotAllowedError();
  }
  const spki = parts.spki.raw;
  return {
    subjectPublicKeyInfo: isCanonicalP256(spki) ? Buffer.from(spki) : canonicalP256Spki(publicKey),
    subject: Buffer.from(parts.subject.raw),
    publicKey,
  };
}
