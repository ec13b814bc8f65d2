import {
  type DerValue,
  DerError,
  TAG,
  bitStringValue,
  childrenOf,
  contextTag,
  integerBytes,
  readDer,
  smallUnsigned,
  timeValue,
} from './der.js';
import { formatName } from './distinguished-name.js';
import { OID } from './oids.js';
import {
  type CertificateExtension,
  algorithmOf,
  extensionsOf,
  readSigned,
} from './der-structures.js';
import { toDer } from './pem.js';

/** RFC 5280 5.3.1: only meaningful in delta CRLs, where it lifts a certificateHold. */
export const CRL_REASON_REMOVE_FROM_CRL = 8;

export interface RevokedEntry {
  readonly revocationDate: Date;
  readonly reason: number | undefined;
  readonly extensions: readonly CertificateExtension[];
}

/**
 * RFC 5280 §5.2.5, decoded. `fullName` holds each GeneralName of the distribution point as hex
 * of its DER (undefined when the field is absent).
 */
export interface IssuingDistributionPoint {
  readonly fullName: readonly string[] | undefined;
  readonly nameRelativeToCrlIssuer: boolean;
  readonly onlyContainsUserCerts: boolean;
  readonly onlyContainsCaCerts: boolean;
  readonly onlySomeReasons: boolean;
  readonly indirectCrl: boolean;
  readonly onlyContainsAttributeCerts: boolean;
  /** The extension's value, for comparing the scopes of a complete and a delta CRL. */
  readonly der: Uint8Array;
}

export interface ParsedCrl {
  readonly der: Uint8Array;
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly crlNumber: bigint | undefined;
  /** Set for a delta CRL (deltaCRLIndicator): the number of the complete CRL it updates. */
  readonly baseCrlNumber: bigint | undefined;
  readonly issuingDistributionPoint: IssuingDistributionPoint | undefined;
  readonly authorityKeyIdentifier: string | undefined;
  readonly extensions: readonly CertificateExtension[];
  /** Keyed by the serial's hex content octets, the same form as `ParsedCert.serialNumber`. */
  readonly revoked: ReadonlyMap<string, RevokedEntry>;
  /** revokedCertificates entries as encoded: more than `revoked.size` when a serial repeats. */
  readonly entryCount: number;
  readonly raw: {
    readonly tbs: Uint8Array;
    readonly signatureAlgorithm: Uint8Array;
    readonly tbsSignatureAlgorithm: Uint8Array;
    readonly signature: Uint8Array;
    readonly issuer: Uint8Array;
  };
}

export class CrlParseError extends Error {
  override readonly name = 'CrlParseError';
}

const ENUMERATED = 0x0a;
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function unsignedBig(value: DerValue): bigint {
  const bytes = integerBytes(value);
  if ((bytes[0] ?? 0) & 0x80) throw new DerError('negative CRL number');
  return BigInt(`0x${hex(bytes)}`);
}

function entryOf(value: DerValue): [string, RevokedEntry] {
  const fields = childrenOf(value);
  const serial = hex(integerBytes(fields.read(TAG.integer)));
  const revocationDate = new Date(timeValue(fields.read()) * 1000);
  const extensionsField = fields.optional(TAG.sequence);
  fields.finish();
  const extensions = extensionsField ? extensionsOf(extensionsField) : [];
  const reasonValue = extensions.find((extension) => extension.oid === OID.crlReason)?.value;
  const reason = reasonValue ? smallUnsigned(readDer(reasonValue, ENUMERATED)) : undefined;
  return [serial, { revocationDate, reason, extensions }];
}

/** DER forbids encoding a DEFAULT FALSE boolean, so a present flag must be TRUE. */
function implicitTrue(value: DerValue | undefined): boolean {
  if (!value) return false;
  if (value.content.length !== 1 || value.content[0] !== 0xff) {
    throw new DerError('issuingDistributionPoint flag must be absent or TRUE');
  }
  return true;
}

function generalNamesOf(value: DerValue): string[] {
  const names = childrenOf(value);
  if (names.done) throw new DerError('empty GeneralNames');
  const list: string[] = [];
  while (!names.done) list.push(hex(names.read().raw));
  return list;
}

function issuingDistributionPointOf(der: Uint8Array): IssuingDistributionPoint {
  const fields = childrenOf(readDer(der, TAG.sequence));
  const point = fields.optional(contextTag(0, true));
  let fullName: string[] | undefined;
  let nameRelativeToCrlIssuer = false;
  if (point) {
    const name = readDer(point.content);
    if (name.tag === contextTag(0, true)) fullName = generalNamesOf(name);
    else if (name.tag === contextTag(1, true)) nameRelativeToCrlIssuer = true;
    else throw new DerError('unknown DistributionPointName');
  }
  const onlyContainsUserCerts = implicitTrue(fields.optional(contextTag(1, false)));
  const onlyContainsCaCerts = implicitTrue(fields.optional(contextTag(2, false)));
  const reasons = fields.optional(contextTag(3, false));
  if (reasons) bitStringValue({ ...reasons, tag: TAG.bitString });
  const indirectCrl = implicitTrue(fields.optional(contextTag(4, false)));
  const onlyContainsAttributeCerts = implicitTrue(fields.optional(contextTag(5, false)));
  fields.finish();
  return {
    fullName,
    nameRelativeToCrlIssuer,
    onlyContainsUserCerts,
    onlyContainsCaCerts,
    onlySomeReasons: reasons !== undefined,
    indirectCrl,
    onlyContainsAttributeCerts,
    der,
  };
}

/** Strict-DER parse of a PEM or DER X.509 CRL (v2 fields; validity is the validator's job). */
export function parseCrl(input: Uint8Array | string): ParsedCrl {
  try {
    return parse(toDer(input, ['X509 CRL', 'CRL']));
  } catch (error) {
    if (error instanceof DerError) throw new CrlParseError(error.message, { cause: error });
    throw error;
  }
}

function parse(der: Uint8Array): ParsedCrl {
  const { tbs, signatureAlgorithm, signature } = readSigned(der);

  const fields = childrenOf(tbs);
  const version = fields.optional(TAG.integer);
  if (version && smallUnsigned(version) !== 1) throw new DerError('unknown CRL version');
  const tbsSignatureAlgorithm = fields.read(TAG.sequence);
  algorithmOf(tbsSignatureAlgorithm);
  algorithmOf(signatureAlgorithm);
  const issuer = fields.read(TAG.sequence);
  const thisUpdate = timeValue(fields.read());
  const nextTag = fields.peekTag();
  const nextUpdate =
    nextTag === TAG.utcTime || nextTag === TAG.generalizedTime
      ? timeValue(fields.read())
      : undefined;
  const revokedList = fields.optional(TAG.sequence);
  const extensionsField = fields.optional(contextTag(0, true));
  fields.finish();

  const revoked = new Map<string, RevokedEntry>();
  let entryCount = 0;
  if (revokedList) {
    const entries = childrenOf(revokedList);
    while (!entries.done) {
      entryCount += 1;
      const [serial, entry] = entryOf(entries.read(TAG.sequence));
      const existing = revoked.get(serial);
      if (!existing || existing.reason === CRL_REASON_REMOVE_FROM_CRL) revoked.set(serial, entry);
    }
  }
  const extensions = extensionsField
    ? extensionsOf(readDer(extensionsField.content, TAG.sequence))
    : [];
  const valueOf = (oid: string): Uint8Array | undefined =>
    extensions.find((extension) => extension.oid === oid)?.value;
  const number = valueOf(OID.crlNumber);
  const base = valueOf(OID.deltaCrlIndicator);
  const idp = valueOf(OID.issuingDistributionPoint);
  const aki = valueOf(OID.authorityKeyIdentifier);
  let authorityKeyIdentifier: string | undefined;
  if (aki) {
    const keyId = childrenOf(readDer(aki, TAG.sequence)).optional(contextTag(0, false));
    authorityKeyIdentifier = keyId ? hex(keyId.content) : undefined;
  }

  return {
    der,
    issuer: formatName(issuer),
    thisUpdate: new Date(thisUpdate * 1000),
    nextUpdate: nextUpdate === undefined ? undefined : new Date(nextUpdate * 1000),
    crlNumber: number ? unsignedBig(readDer(number, TAG.integer)) : undefined,
    baseCrlNumber: base ? unsignedBig(readDer(base, TAG.integer)) : undefined,
    issuingDistributionPoint: idp ? issuingDistributionPointOf(idp) : undefined,
    authorityKeyIdentifier,
    extensions,
    revoked,
    entryCount,
    raw: {
      tbs: tbs.raw,
      signatureAlgorithm: signatureAlgorithm.raw,
      tbsSignatureAlgorithm: tbsSignatureAlgorithm.raw,
      signature,
      issuer: issuer.raw,
    },
  };
}
