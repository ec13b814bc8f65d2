import { certificateFingerprint } from '../crypto/certificate-fingerprint.js';
import {
  type DerValue,
  DerError,
  TAG,
  bitStringValue,
  booleanValue,
  childrenOf,
  contextTag,
  integerBytes,
  oidValue,
  readDer,
  smallUnsigned,
  timeValue,
} from './der.js';
import {
  type CertificateExtension,
  algorithmOf,
  extensionsOf,
  readSigned,
} from './der-structures.js';
import { formatName } from './distinguished-name.js';
import { OID } from './oids.js';
import { toDer } from './pem.js';

export type KeyUsageName =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign'
  | 'encipherOnly'
  | 'decipherOnly';

const KEY_USAGE_BITS: readonly KeyUsageName[] = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
];

/** Byte-exact slices a verifier needs: what was signed and what names are compared as. */
export interface CertificateRawParts {
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: Uint8Array;
  readonly tbsSignatureAlgorithm: Uint8Array;
  readonly signature: Uint8Array;
  readonly serial: Uint8Array;
  readonly subject: Uint8Array;
  readonly issuer: Uint8Array;
}

export interface ParsedCert {
  readonly der: Uint8Array;
  /** Lower-case hex SHA-256 of `der`. */
  readonly fingerprint: string;
  /** Hex of the serial INTEGER's content octets as encoded (two's complement). */
  readonly serialNumber: string;
  /** Display form only; compare `raw.subject` / `raw.issuer`. */
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subjectPublicKeyInfo: Uint8Array;
  readonly publicKeyAlgorithm: string;
  /** OID of the outer signatureAlgorithm. */
  readonly signatureAlgorithm: string;
  readonly extensions: readonly CertificateExtension[];
  readonly basicConstraints:
    { readonly ca: boolean; readonly pathLenConstraint: number | undefined } | undefined;
  /** Undefined when the extension is absent (which RFC 5280 reads as "any usage"). */
  readonly keyUsage: ReadonlySet<KeyUsageName> | undefined;
  readonly extendedKeyUsage: readonly string[] | undefined;
  /** Hex key identifiers; `authorityKeyIdentifier` is the AKI's keyIdentifier field. */
  readonly subjectKeyIdentifier: string | undefined;
  readonly authorityKeyIdentifier: string | undefined;
  readonly subjectAltNameUris: readonly string[];
  readonly raw: CertificateRawParts;
}

/** Thrown by `parseCertificate` for anything that is not a strict-DER X.509 v3 certificate. */
export class CertificateParseError extends Error {
  override readonly name = 'CertificateParseError';
}

export type { CertificateExtension };

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function basicConstraintsOf(value: Uint8Array): ParsedCert['basicConstraints'] {
  const fields = childrenOf(readDer(value, TAG.sequence));
  const ca = fields.optional(TAG.boolean);
  const pathLen = fields.optional(TAG.integer);
  fields.finish();
  return {
    ca: ca ? booleanValue(ca) : false,
    pathLenConstraint: pathLen ? smallUnsigned(pathLen) : undefined,
  };
}

function keyUsageOf(value: Uint8Array): Set<KeyUsageName> {
  const { bytes, unusedBits } = bitStringValue(readDer(value, TAG.bitString));
  const usages = new Set<KeyUsageName>();
  const bitCount = bytes.length * 8 - unusedBits;
  KEY_USAGE_BITS.forEach((name, bit) => {
    if (bit < bitCount && ((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0) usages.add(name);
  });
  return usages;
}

function sequenceOf<T>(value: Uint8Array, item: (entry: DerValue) => T): T[] {
  const entries = childrenOf(readDer(value, TAG.sequence));
  if (entries.done) throw new DerError('empty SEQUENCE where SIZE (1..MAX) is required');
  const items: T[] = [];
  while (!entries.done) items.push(item(entries.read()));
  return items;
}

function authorityKeyIdOf(value: Uint8Array): string | undefined {
  const fields = childrenOf(readDer(value, TAG.sequence));
  const keyId = fields.optional(contextTag(0, false));
  fields.optional(contextTag(1, true));
  fields.optional(contextTag(2, false));
  fields.finish();
  return keyId ? hex(keyId.content) : undefined;
}

const URI_NAME = contextTag(6, false);

/**
 * Strict-DER X.509 v3 parse of a PEM or DER certificate. Only the extensions validation acts on
 * are decoded; every other one is kept as raw bytes in `extensions`.
 */
export function parseCertificate(input: Uint8Array | string): ParsedCert {
  try {
    return parse(toDer(input, ['CERTIFICATE']));
  } catch (error) {
    if (error instanceof DerError) throw new CertificateParseError(error.message, { cause: error });
    throw error;
  }
}

function parse(der: Uint8Array): ParsedCert {
  const { tbs, signatureAlgorithm, signature } = readSigned(der);

  const fields = childrenOf(tbs);
  const version = fields.optional(contextTag(0, true));
  if (!version || smallUnsigned(readDer(version.content, TAG.integer)) !== 2) {
    throw new DerError('only X.509 v3 certificates are accepted');
  }
  const serial = integerBytes(fields.read(TAG.integer));
  const tbsSignatureAlgorithm = fields.read(TAG.sequence);
  const issuer = fields.read(TAG.sequence);
  const validity = childrenOf(fields.read(TAG.sequence));
  const notBefore = timeValue(validity.read());
  const notAfter = timeValue(validity.read());
  validity.finish();
  const subject = fields.read(TAG.sequence);
  const spki = fields.read(TAG.sequence);
  fields.optional(contextTag(1, false));
  fields.optional(contextTag(2, false));
  const extensionsField = fields.optional(contextTag(3, true));
  fields.finish();

  const spkiFields = childrenOf(spki);
  const publicKeyAlgorithm = algorithmOf(spkiFields.read(TAG.sequence));
  bitStringValue(spkiFields.read(TAG.bitString));
  spkiFields.finish();
  algorithmOf(tbsSignatureAlgorithm);

  const extensions = extensionsField
    ? extensionsOf(readDer(extensionsField.content, TAG.sequence))
    : [];
  const first = (oid: string): Uint8Array | undefined =>
    extensions.find((extension) => extension.oid === oid)?.value;
  const bc = first(OID.basicConstraints);
  const ku = first(OID.keyUsage);
  const eku = first(OID.extKeyUsage);
  const ski = first(OID.subjectKeyIdentifier);
  const aki = first(OID.authorityKeyIdentifier);
  const san = first(OID.subjectAltName);

  return {
    der,
    fingerprint: certificateFingerprint(der),
    serialNumber: hex(serial),
    subject: formatName(subject),
    issuer: formatName(issuer),
    notBefore: new Date(notBefore * 1000),
    notAfter: new Date(notAfter * 1000),
    subjectPublicKeyInfo: spki.raw,
    publicKeyAlgorithm,
    signatureAlgorithm: algorithmOf(signatureAlgorithm),
    extensions,
    basicConstraints: bc ? basicConstraintsOf(bc) : undefined,
    keyUsage: ku ? keyUsageOf(ku) : undefined,
    extendedKeyUsage: eku ? sequenceOf(eku, (entry) => oidValue(entry)) : undefined,
    subjectKeyIdentifier: ski ? hex(readDer(ski, TAG.octetString).content) : undefined,
    authorityKeyIdentifier: aki ? authorityKeyIdOf(aki) : undefined,
    subjectAltNameUris: san
      ? sequenceOf(san, (entry) => entry)
          .filter((entry) => entry.tag === URI_NAME)
          .map((entry) => Buffer.from(entry.content).toString('latin1'))
      : [],
    raw: {
      tbs: tbs.raw,
      signatureAlgorithm: signatureAlgorithm.raw,
      tbsSignatureAlgorithm: tbsSignatureAlgorithm.raw,
      signature,
      serial,
      subject: subject.raw,
      issuer: issuer.raw,
    },
  };
}
