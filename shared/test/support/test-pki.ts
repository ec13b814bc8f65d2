/**
 * A throwaway PKI in raw DER, for tests that need fields no certificate library lets them set:
 * names in another string type or case, issuing distribution points, delta CRL indicators,
 * critical CRL and entry extensions, CRLs signed by any key in any issuer's name.
 */
import { type KeyObject, createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { derSigned, derTagged } from '../../src/encoding/der.js';

const DAY_MS = 86_400_000;

const concat = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts);
export const seq = (...parts: Uint8Array[]): Buffer => derTagged(0x30, concat(parts));
const set = (...parts: Uint8Array[]): Buffer => derTagged(0x31, concat(parts));
const octets = (bytes: Uint8Array): Buffer => derTagged(0x04, bytes);
const TRUE = Buffer.from([0x01, 0x01, 0xff]);

export function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const body: number[] = [first * 40 + second];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) {
      chunk.unshift((value & 0x7f) | 0x80);
    }
    body.push(...chunk);
  }
  return derTagged(0x06, Buffer.from(body));
}

export function integer(value: bigint | number): Buffer {
  let hex = BigInt(value).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return derTagged(0x02, (bytes[0] ?? 0) & 0x80 ? concat([Buffer.from([0]), bytes]) : bytes);
}

function time(date: Date): Buffer {
  const text = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return date.getUTCFullYear() < 2050
    ? derTagged(0x17, Buffer.from(`${text.slice(2)}Z`))
    : derTagged(0x18, Buffer.from(`${text}Z`));
}

export type StringType = 'printable' | 'utf8';

/** One attribute per RDN: [type OID, value, string type (default printable)]. */
export function name(...rdns: [string, string, StringType?][]): Buffer {
  return seq(
    ...rdns.map(([type, value, kind = 'printable']) =>
      set(seq(oid(type), derTagged(kind === 'utf8' ? 0x0c : 0x13, Buffer.from(value, 'utf8')))),
    ),
  );
}

export const CN = '2.5.4.3';
export const O = '2.5.4.10';

export interface Extension {
  readonly oid: string;
  readonly critical?: boolean;
  readonly value: Uint8Array;
}

export function extension({ oid: id, critical = false, value }: Extension): Buffer {
  return seq(oid(id), ...(critical ? [TRUE] : []), octets(value));
}

const extensions = (list: readonly Extension[]): Buffer[] =>
  list.length === 0 ? [] : [seq(...list.map(extension))];

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface KeyHolder {
  readonly privateKey: KeyObject;
  readonly spki: Buffer;
  readonly keyId: Buffer;
}

export function newKey(): KeyHolder {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { privateKey, spki, keyId: createHash('sha1').update(spki).digest() };
}

function signed(tbs: Buffer, key: KeyHolder): Buffer {
  return derSigned(tbs, ECDSA_SHA256, sign('sha256', tbs, key.privateKey));
}

export interface TestCert {
  readonly der: Buffer;
  readonly key: KeyHolder;
  readonly subject: Buffer;
  /** Hex of the serial's content octets, as `ParsedCert.serialNumber`. */
  readonly serial: string;
}

export type Usage = 'digitalSignature' | 'keyCertSign' | 'cRLSign';
const USAGE_BIT: Record<Usage, number> = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 };

function keyUsage(usages: readonly Usage[]): Extension {
  let bits = 0;
  for (const usage of usages) bits |= 0x8000 >> USAGE_BIT[usage];
  const bytes = [bits >> 8, bits & 0xff];
  const used = bytes[1] === 0 ? bytes.slice(0, 1) : bytes;
  const last = used[used.length - 1] ?? 0;
  let unused = 0;
  while (unused < 7 && !(last & (1 << unused))) unused += 1;
  return {
    oid: '2.5.29.15',
    critical: true,
    value: derTagged(0x03, Buffer.from([unused, ...used])),
  };
}

export const uri = (value: string): Buffer => derTagged(0x86, Buffer.from(value));

export interface CertSpec {
  readonly subject: Buffer;
  /** Undefined: self-signed. */
  readonly issuer?: TestCert;
  /** The issuer name written into the certificate (default: the issuer's subject bytes). */
  readonly issuerName?: Buffer;
  readonly key?: KeyHolder;
  readonly ca?: boolean;
  readonly usages?: readonly Usage[];
  readonly crlDistributionPoint?: string;
  readonly at: Date;
}

/** A v3 certificate valid a day before `at` to a year after it. */
export function certificate(spec: CertSpec): TestCert {
  const key = spec.key ?? newKey();
  const signer = spec.issuer?.key ?? key;
  const serial = `01${randomBytes(15).toString('hex')}`;
  const ca = spec.ca ?? false;
  const list: Extension[] = [
    { oid: '2.5.29.19', critical: true, value: ca ? seq(TRUE) : seq() },
    keyUsage(spec.usages ?? (ca ? ['keyCertSign', 'cRLSign'] : ['digitalSignature'])),
    { oid: '2.5.29.14', value: octets(key.keyId) },
    ...(spec.issuer ? [{ oid: '2.5.29.35', value: seq(derTagged(0x80, signer.keyId)) }] : []),
    ...(ca
      ? []
      : [
          { oid: '2.5.29.37', value: seq(oid('1.3.6.1.5.5.7.3.2')) },
          { oid: '2.5.29.17', value: seq(uri('urn:lantern:device:test')) },
        ]),
    ...(spec.crlDistributionPoint
      ? [
          {
            oid: '2.5.29.31',
            value: seq(seq(derTagged(0xa0, derTagged(0xa0, uri(spec.crlDistributionPoint))))),
          },
        ]
      : []),
  ];
  const tbs = seq(
    derTagged(0xa0, integer(2)),
    derTagged(0x02, Buffer.from(serial, 'hex')),
    ECDSA_SHA256,
    spec.issuerName ?? spec.issuer?.subject ?? spec.subject,
    seq(
      time(new Date(spec.at.getTime() - DAY_MS)),
      time(new Date(spec.at.getTime() + 365 * DAY_MS)),
    ),
    spec.subject,
    key.spki,
    derTagged(0xa3, seq(...list.map(extension))),
  );
  return { der: signed(tbs, signer), key, subject: spec.subject, serial };
}

export interface CrlEntrySpec {
  readonly serial: string;
  /** RFC 5280 CRLReason code. */
  readonly reason?: number;
  readonly extensions?: readonly Extension[];
}

export interface CrlSpec {
  /** The issuer name (default: the signer's subject). */
  readonly issuerName?: Buffer;
  readonly signer: TestCert;
  /** Omit the AKI, or name another key than the signer's. */
  readonly keyId?: Buffer | null;
  /** Undefined: 1; null: no cRLNumber. */
  readonly number?: number | null;
  readonly numberCritical?: boolean;
  /** Makes it a delta CRL. */
  readonly baseNumber?: number;
  readonly revoked?: readonly (string | CrlEntrySpec)[];
  readonly idp?: Buffer;
  readonly idpCritical?: boolean;
  readonly extensions?: readonly Extension[];
  /** Default: a day before `at`. */
  readonly thisUpdate?: Date;
  /** Default: a week after `at`; null leaves it out. */
  readonly nextUpdate?: Date | null;
  readonly at: Date;
}

export function crl(spec: CrlSpec): Buffer {
  const keyId = spec.keyId === undefined ? spec.signer.key.keyId : spec.keyId;
  const number = spec.number === undefined ? 1 : spec.number;
  const list: Extension[] = [
    ...(keyId === null ? [] : [{ oid: '2.5.29.35', value: seq(derTagged(0x80, keyId)) }]),
    ...(number === null
      ? []
      : [{ oid: '2.5.29.20', critical: spec.numberCritical ?? false, value: integer(number) }]),
    ...(spec.baseNumber === undefined
      ? []
      : [{ oid: '2.5.29.27', critical: true, value: integer(spec.baseNumber) }]),
    ...(spec.idp
      ? [{ oid: '2.5.29.28', critical: spec.idpCritical ?? true, value: spec.idp }]
      : []),
    ...(spec.extensions ?? []),
  ];
  const entries = (spec.revoked ?? []).map((item) => {
    const entry = typeof item === 'string' ? { serial: item } : item;
    const entryExtensions: Extension[] = [
      ...(entry.reason === undefined
        ? []
        : [{ oid: '2.5.29.21', value: derTagged(0x0a, Buffer.from([entry.reason])) }]),
      ...(entry.extensions ?? []),
    ];
    return seq(
      derTagged(0x02, Buffer.from(entry.serial, 'hex')),
      time(new Date(spec.at.getTime() - 3_600_000)),
      ...extensions(entryExtensions),
    );
  });
  const tbs = seq(
    integer(1),
    ECDSA_SHA256,
    spec.issuerName ?? spec.signer.subject,
    time(spec.thisUpdate ?? new Date(spec.at.getTime() - DAY_MS)),
    ...(spec.nextUpdate === null
      ? []
      : [time(spec.nextUpdate ?? new Date(spec.at.getTime() + 7 * DAY_MS))]),
    ...(entries.length > 0 ? [seq(...entries)] : []),
    ...(list.length > 0 ? [derTagged(0xa0, seq(...list.map(extension)))] : []),
  );
  return signed(tbs, spec.signer.key);
}

export interface IdpSpec {
  readonly uri?: string;
  readonly onlyUser?: boolean;
  readonly onlyCa?: boolean;
  readonly someReasons?: boolean;
  readonly indirect?: boolean;
}

/** The value of an issuingDistributionPoint extension. */
export function idp(spec: IdpSpec): Buffer {
  return seq(
    ...(spec.uri ? [derTagged(0xa0, derTagged(0xa0, uri(spec.uri)))] : []),
    ...(spec.onlyUser ? [Buffer.from([0x81, 0x01, 0xff])] : []),
    ...(spec.onlyCa ? [Buffer.from([0x82, 0x01, 0xff])] : []),
    ...(spec.someReasons ? [Buffer.from([0x83, 0x02, 0x07, 0x80])] : []),
    ...(spec.indirect ? [Buffer.from([0x84, 0x01, 0xff])] : []),
  );
}
