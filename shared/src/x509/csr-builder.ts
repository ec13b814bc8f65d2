import { derSigned } from '../encoding/der.js';
import { toPem } from './pem.js';

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const OID_COMMON_NAME = '2.5.4.3';

export interface CsrInput {
  commonName: string;
  subjectPublicKeyInfo: Uint8Array;
  /** Signs with ECDSA P-256 over SHA-256 and returns the DER (not IEEE P1363) signature. */
  sign(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/**
 * A PKCS#10 request signed through a callback, so that a key that never leaves its store
 * (file, TPM, Secure Enclave) can prove possession without handing over a CryptoKey.
 */
export async function buildCsrPem(input: CsrInput): Promise<string> {
  // Loaded here, not with the module: the ASN.1 schema library is ~300 files that every
  // short-lived CLI command importing this package would otherwise pay for at start.
  const [{ CertificationRequestInfo }, { AsnConvert }, x509] = await Promise.all([
    import('@peculiar/asn1-csr'),
    import('@peculiar/asn1-schema'),
    import('@peculiar/asn1-x509'),
  ]);
  const {
    AlgorithmIdentifier,
    AttributeTypeAndValue,
    AttributeValue,
    Name,
    RelativeDistinguishedName,
    SubjectPublicKeyInfo,
  } = x509;
  const info = new CertificationRequestInfo({
    version: 0,
    subject: new Name([
      new RelativeDistinguishedName([
        new AttributeTypeAndValue({
          type: OID_COMMON_NAME,
          value: new AttributeValue({ utf8String: input.commonName }),
        }),
      ]),
    ]),
    subjectPKInfo: AsnConvert.parse(input.subjectPublicKeyInfo, SubjectPublicKeyInfo),
  });
  const tbs = new Uint8Array(AsnConvert.serialize(info));
  const signature = await input.sign(tbs);
  const algorithm = new Uint8Array(
    AsnConvert.serialize(new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 })),
  );
  return toPem(derSigned(tbs, algorithm, signature), 'CERTIFICATE REQUEST');
}
