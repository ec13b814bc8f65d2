import { CertificationRequest } from '@peculiar/asn1-csr';
import { AsnConvert } from '@peculiar/asn1-schema';
import type { KeyObject } from 'node:crypto';
import { createPublicKey, verify } from 'node:crypto';
import {
  CsrExtensionNotAllowedError,
  CsrInvalidError,
  CsrSignatureInvalidError,
  KeyPolicyViolationError,
} from '../errors.js';
import { fromPem } from '../pki/der.js';

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const MAX_CSR_PEM_LENGTH = 8192;

export interface ParsedCsr {
  subjectPublicKeyInfo: Buffer;
  publicKey: KeyObject;
}

function describeKey(key: KeyObject): string {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa') return `RSA-${details?.modulusLength ?? '?'}`;
  if (key.asymmetricKeyType === 'ec') return `EC ${details?.namedCurve ?? '?'}`;
  return key.asymmetricKeyType ?? 'unknown';
}

/**
 * Proof of possession and key policy for a PKCS#10 request: only ECDSA P-256 keys (what TPMs,
 * Secure Enclaves, Android Keystore and WebAuthn all have), signed with ecdsa-with-SHA256, no
 * requested extensions (the profile decides every extension).
 */
export function parseDeviceCsr(pem: string): ParsedCsr {
  if (pem.length > MAX_CSR_PEM_LENGTH) throw new CsrInvalidError('CSR is larger than 8 KiB');
  let request: CertificationRequest;
  let der: Buffer;
  try {
    der = fromPem(pem, 'CERTIFICATE REQUEST');
    request = AsnConvert.parse(der, CertificationRequest);
  } catch {
    throw new CsrInvalidError('CSR is not a PEM-encoded PKCS#10 certificate request');
  }
  const info = request.certificationRequestInfo;
  const spki = Buffer.from(AsnConvert.serialize(info.subjectPKInfo));
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: spki, format: 'der', type: 'spki' });
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
  if (request.signatureAlgorithm.algorithm !== OID_ECDSA_WITH_SHA256) {
    throw new CsrSignatureInvalidError(`CSR must be signed with ecdsa-with-SHA256`);
  }
  const raw = request.certificationRequestInfoRaw;
  const signedBytes = raw ? new Uint8Array(raw) : new Uint8Array(AsnConvert.serialize(info));
  let valid = false;
  try {
    valid = verify(
      'sha256',
      signedBytes,
      { key: publicKey, dsaEncoding: 'der' },
      new Uint8Array(request.signature),
    );
  } catch {
    valid = false;
  }
  if (!valid) throw new CsrSignatureInvalidError();
  const attributeTypes = info.attributes.map((attribute) => attribute.type);
  if (attributeTypes.includes(OID_EXTENSION_REQUEST)) {
    throw new CsrExtensionNotAllowedError();
  }
  return { subjectPublicKeyInfo: spki, publicKey };
}
