/** ASN.1 structures certificates and CRLs share. */
import {
  type DerValue,
  DerError,
  TAG,
  bitStringValue,
  booleanValue,
  childrenOf,
  oidValue,
  readDer,
} from './der.js';

export interface CertificateExtension {
  readonly oid: string;
  readonly critical: boolean;
  /** Content of extnValue: DER for the extensions the parsers decode, opaque otherwise. */
  readonly value: Uint8Array;
}

/** `SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }`: certificates and CRLs alike. */
export function readSigned(der: Uint8Array): {
  tbs: DerValue;
  signatureAlgorithm: DerValue;
  signature: Uint8Array;
} {
  const outer = childrenOf(readDer(der, TAG.sequence));
  const tbs = outer.read(TAG.sequence);
  const signatureAlgorithm = outer.read(TAG.sequence);
  const signature = bitStringValue(outer.read(TAG.bitString));
  outer.finish();
  if (signature.unusedBits !== 0) throw new DerError('signature is not a whole number of bytes');
  return { tbs, signatureAlgorithm, signature: signature.bytes };
}

/** The OID of an AlgorithmIdentifier, after checking its shape (parameters are left opaque). */
export function algorithmOf(value: DerValue): string {
  const fields = childrenOf(value);
  const oid = oidValue(fields.read(TAG.oid));
  if (!fields.done) fields.read();
  fields.finish();
  return oid;
}

/** Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension; shared with CRLs and CRL entries. */
export function extensionsOf(value: DerValue): CertificateExtension[] {
  const list = childrenOf(value);
  if (list.done) throw new DerError('empty Extensions');
  const extensions: CertificateExtension[] = [];
  while (!list.done) {
    const fields = childrenOf(list.read(TAG.sequence));
    const oid = oidValue(fields.read(TAG.oid));
    const flag = fields.optional(TAG.boolean);
    const value = fields.read(TAG.octetString).content;
    fields.finish();
    extensions.push({ oid, critical: flag ? booleanValue(flag) : false, value });
  }
  return extensions;
}
