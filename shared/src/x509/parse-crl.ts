import {
  type DerValue,
  DerError,
  TAG,
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

export interface ParsedCrl {
  readonly der: Uint8Array;
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  readonly crlNumber: bigint | undefined;
  readonly authorityKeyIdentifier: string | undefined;
  readonly extensions: readonly CertificateExtension[];
  /** Keyed by the serial's hex content octets, the same form as `ParsedCert.serialNumber`. */
  readonly revoked: ReadonlyMap<string, RevokedEntry>;
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
  if (revokedList) {
    const entries = childrenOf(revokedList);
    while (!entries.done) {
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
    authorityKeyIdentifier,
    extensions,
    revoked,
    raw: {
      tbs: tbs.raw,
      signatureAlgorithm: signatureAlgorithm.raw,
      tbsSignatureAlgorithm: tbsSignatureAlgorithm.raw,
      signature,
      issuer: issuer.raw,
    },
  };
}
