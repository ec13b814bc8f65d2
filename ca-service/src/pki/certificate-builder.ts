import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  CRLDistributionPoints,
  DistributionPoint,
  DistributionPointName,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  Name,
  RelativeDistinguishedName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_cRLDistributionPoints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { derSigned } from '@lantern/shared';
import { createHash } from 'node:crypto';
import type { Signer } from './signer.js';

export { KeyUsageFlags } from '@peculiar/asn1-x509';

export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_COMMON_NAME = '2.5.4.3';
const OID_ORGANIZATION = '2.5.4.10';

export interface CertificateSpec {
  serial: Uint8Array;
  issuer: Name;
  subject: Name;
  notBefore: Date;
  notAfter: Date;
  subjectPublicKeyInfo: Uint8Array;
  extensions: Extension[];
}

export function distinguishedName(commonName: string, organization?: string): Name {
  const rdn = (type: string, value: string) =>
    new RelativeDistinguishedName([
      new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) }),
    ]);
  return new Name([
    ...(organization === undefined ? [] : [rdn(OID_ORGANIZATION, organization)]),
    rdn(OID_COMMON_NAME, commonName),
  ]);
}

export function subjectOf(certificateDer: Uint8Array): Name {
  return AsnConvert.parse(certificateDer, Certificate).tbsCertificate.subject;
}

/** RFC 7093 §2 method 1: leftmost 160 bits of SHA-256 over the subjectPublicKey bits. */
export function keyIdentifier(subjectPublicKeyInfo: Uint8Array): Buffer {
  const spki = AsnConvert.parse(subjectPublicKeyInfo, SubjectPublicKeyInfo);
  return createHash('sha256')
    .update(new Uint8Array(spki.subjectPublicKey))
    .digest()
    .subarray(0, 20);
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({
    extnID,
    critical,
    extnValue: new OctetString(AsnConvert.serialize(value)),
  });
}

export const extensions = {
  basicConstraints: (ca: boolean, pathLenConstraint?: number) =>
    extension(
      id_ce_basicConstraints,
      true,
      new BasicConstraints(ca ? { cA: true, pathLenConstraint } : {}),
    ),
  keyUsage: (flags: number) => extension(id_ce_keyUsage, true, new KeyUsage(flags)),
  extendedKeyUsage: (oids: string[]) =>
    extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage(oids)),
  subjectKeyIdentifier: (keyId: Uint8Array) =>
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(new Uint8Array(keyId))),
  authorityKeyIdentifier: (keyId: Uint8Array) =>
    extension(
      id_ce_authorityKeyIdentifier,
      false,
      new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(new Uint8Array(keyId)) }),
    ),
  crlDistributionPoint: (url: string) =>
    extension(
      id_ce_cRLDistributionPoints,
      false,
      new CRLDistributionPoints([
        new DistributionPoint({
          distributionPoint: new DistributionPointName({
            fullName: [new GeneralName({ uniformResourceIdentifier: url })],
          }),
        }),
      ]),
    ),
};

export function encodeTbsCertificate(spec: CertificateSpec): ArrayBuffer {
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array(spec.serial).buffer,
    signature: new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 }),
    issuer: spec.issuer,
    validity: new Validity({ notBefore: spec.notBefore, notAfter: spec.notAfter }),
    subject: spec.subject,
    subjectPublicKeyInfo: AsnConvert.parse(spec.subjectPublicKeyInfo, SubjectPublicKeyInfo),
    extensions: new Extensions(spec.extensions),
  });
  return AsnConvert.serialize(tbs);
}

const ECDSA_WITH_SHA256_ALGORITHM_DER = Buffer.from(
  AsnConvert.serialize(new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 })),
);

/** Signs exact TBS bytes and wraps them; serves certificates (RFC 5280 §4.1) and CRLs (§5.1). */
export async function signTbs(tbsDer: Uint8Array, signer: Signer): Promise<Buffer> {
  return derSigned(tbsDer, ECDSA_WITH_SHA256_ALGORITHM_DER, await signer.sign(tbsDer));
}

export async function signCertificate(spec: CertificateSpec, signer: Signer): Promise<Buffer> {
  return signTbs(new Uint8Array(encodeTbsCertificate(spec)), signer);
}
