import type { Name } from '@peculiar/asn1-x509';
import type { Signer } from './signer.js';

/** An issuing CA as the code that signs with it sees it: its certificate, name and key. */
export interface IssuingAuthority {
  certificate: Buffer;
  subject: Name;
  keyId: Buffer;
  signer: Signer;
  crlUrl: string;
}

export interface CaMaterial {
  /** The current issuing CA: it issues every new certificate. */
  authority: IssuingAuthority;
  /**
   * Issuing CAs replaced by `lantern-ca ca rotate-issuing`: they issue nothing, but keep signing
   * the CRLs for the certificates they issued (docs/architecture.md §2 Lifetimes).
   */
  retired: { authority: IssuingAuthority; pem: string }[];
  rootPem: string;
  issuingPem: string;
  rootFingerprint: string;
  issuingFingerprint: string;
}
