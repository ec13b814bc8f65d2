import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  BaseCRLNumber,
  CRLNumber,
  CRLReason,
  CRLReasons,
  Extension,
  KeyIdentifier,
  RevokedCertificate,
  TBSCertList,
  Time,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
  id_ce_deltaCRLIndicator,
} from '@peculiar/asn1-x509';
import { OctetString } from '@peculiar/asn1-schema';
import { OID_ECDSA_WITH_SHA256, signTbs } from './certificate-builder.js';
import type { IssuingAuthority } from './issuing-authority.js';

export interface CrlEntry {
  serialHex: string;
  revokedAt: Date;
  reason: string;
}

export interface CrlSpec {
  crlNumber: number;
  /** Present for a delta CRL: the number of the full CRL it completes. */
  baseCrlNumber?: number;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: readonly CrlEntry[];
}

const REASON_CODES: Record<string, CRLReasons> = {
  lost: CRLReasons.keyCompromise,
  stolen: CRLReasons.keyCompromise,
  compromised: CRLReasons.keyCompromise,
  superseded: CRLReasons.superseded,
  decommissioned: CRLReasons.cessationOfOperation,
};

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({
    extnID,
    critical,
    extnValue: new OctetString(AsnConvert.serialize(value)),
  });
}

/** An X.509 v2 CRL (RFC 5280 §5) signed by the issuing CA: CRL number, AKI, nextUpdate. */
export async function signCrl(authority: IssuingAuthority, spec: CrlSpec): Promise<Buffer> {
  const crlExtensions = [
    extension(
      id_ce_authorityKeyIdentifier,
      false,
      new AuthorityKeyIdentifier({
        keyIdentifier: new KeyIdentifier(new Uint8Array(authority.keyId)),
      }),
    ),
    extension(id_ce_cRLNumber, false, new CRLNumber(spec.crlNumber)),
  ];
  if (spec.baseCrlNumber !== undefined) {
    crlExtensions.push(
      extension(id_ce_deltaCRLIndicator, true, new BaseCRLNumber(spec.baseCrlNumber)),
    );
  }
  const revoked = spec.entries.map((entry) => {
    const code = REASON_CODES[entry.reason];
    return new RevokedCertificate({
      userCertificate: new Uint8Array(Buffer.from(entry.serialHex, 'hex')).buffer,
      revocationDate: new Time(entry.revokedAt),
      // RFC 5280 §5.3.1: omit the reason code rather than say "unspecified".
      ...(code === undefined
        ? {}
        : { crlEntryExtensions: [extension(id_ce_cRLReasons, false, new CRLReason(code))] }),
    });
  });
  const tbs = new TBSCertList({
    version: 1,
    signature: new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 }),
    issuer: authority.subject,
    thisUpdate: new Time(spec.thisUpdate),
    nextUpdate: new Time(spec.nextUpdate),
    ...(revoked.length > 0 ? { revokedCertificates: revoked } : {}),
    crlExtensions,
  });
  return signTbs(new Uint8Array(AsnConvert.serialize(tbs)), authority.signer);
}
