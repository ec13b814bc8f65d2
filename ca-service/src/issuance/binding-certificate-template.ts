import {
  OID_EKU_CLIENT_AUTH,
  OID_EKU_LANTERN_DEVICE_BINDING,
  OID_EXT_LANTERN_KEY_ASSURANCE,
  OID_EXT_LANTERN_OFFLINE_POLICY,
  TAG,
  bitStringValue,
  childrenOf,
  derTagged,
  deviceUri,
  readDer,
} from '@lantern/shared';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { createHash } from 'node:crypto';
import { keyUsageFlags } from '../pki/ca-hierarchy.js';
import { OID_ECDSA_WITH_SHA256, extensions } from '../pki/certificate-builder.js';
import type { DeviceBindingProfile } from '../pki/profiles.js';
import type { IssuingAuthority } from '../pki/issuing-authority.js';

/** What varies from one binding certificate to the next; everything else is the template's. */
export interface BindingTbsFields {
  serial: Uint8Array;
  tenantId: string;
  deviceId: string;
  subjectPublicKeyInfo: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  maxOfflineSeconds: number;
  /** The key store tier recorded for the device; no extension when absent. */
  keyAssurance?: 'software' | 'hardware' | 'attested';
}

const EKU_NAMES: Record<string, string> = {
  clientAuth: OID_EKU_CLIENT_AUTH,
  lanternDeviceBinding: OID_EKU_LANTERN_DEVICE_BINDING,
};

const OID_COMMON_NAME = '2.5.4.3';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_SUBJECT_KEY_IDENTIFIER = '2.5.29.14';
const TAG_VERSION = 0xa0;
const TAG_EXTENSIONS = 0xa3;
const TAG_URI = 0x86;
const MAX_SERIAL_OCTETS = 20;

/** One TLV around parts that are already DER. */
function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  return derTagged(tag, parts.length === 1 && parts[0] ? parts[0] : Buffer.concat(parts));
}

function oidDer(dotted: string): Buffer {
  const arcs = dotted.split('.').map(BigInt);
  const [first = 0n, second = 0n, ...rest] = arcs;
  const bytes: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const group = [Number(arc & 0x7fn)];
    for (let value = arc >> 7n; value > 0n; value >>= 7n)
      group.unshift(Number(value & 0x7fn) | 0x80);
    bytes.push(...group);
  }
  return tlv(TAG.oid, Buffer.from(bytes));
}

/** Minimal two's complement of a non-negative safe integer. */
function unsignedInteger(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError('expected a non-negative safe integer');
  }
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  if (bytes.length === 0 || (bytes[0] ?? 0) >= 0x80) bytes.unshift(0);
  return tlv(TAG.integer, Buffer.from(bytes));
}

/** RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets, whatever the caller's padding. */
function serialInteger(serial: Uint8Array): Buffer {
  let start = 0;
  while (start < serial.length - 1 && serial[start] === 0) start++;
  const magnitude = serial.subarray(start);
  if (magnitude.length === 0 || (magnitude.length === 1 && magnitude[0] === 0)) {
    throw new TypeError('certificate serial must be positive');
  }
  const content =
    (magnitude[0] ?? 0) >= 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude;
  if (content.length > MAX_SERIAL_OCTETS)
    throw new TypeError('certificate serial exceeds 20 octets');
  return tlv(TAG.integer, content);
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 (and before 1950). */
function timeDer(date: Date): Buffer {
  const year = date.getUTCFullYear();
  if (!Number.isFinite(date.getTime()) || year < 0 || year > 9999) {
    throw new TypeError('certificate validity date out of range');
  }
  const rest =
    pad2(date.getUTCMonth() + 1) +
    pad2(date.getUTCDate()) +
    pad2(date.getUTCHours()) +
    pad2(date.getUTCMinutes()) +
    pad2(date.getUTCSeconds()) +
    'Z';
  return year >= 1950 && year <= 2049
    ? tlv(TAG.utcTime, Buffer.from(pad2(year % 100) + rest, 'latin1'))
    : tlv(TAG.generalizedTime, Buffer.from(String(year).padStart(4, '0') + rest, 'latin1'));
}

/**
 * The binding certificate's TBSCertificate (docs/architecture.md §3.3) as precomputed byte runs: everything
 * fixed by the issuing CA and the profile (version, algorithm, issuer, basic constraints, key
 * usages, AKI, CRL distribution point) is encoded once through the generic ASN.1 builder;
 * serial, validity, subject, key, SKI, SAN and the offline policy are spliced in per
 * certificate. The generic builder costs milliseconds per certificate, this microseconds.
 */
export class BindingCertificateTemplate {
  private readonly versionDer = tlv(TAG_VERSION, Buffer.from([TAG.integer, 1, 2]));
  private readonly signatureAndIssuer: Buffer;
  private readonly leadingExtensions: Buffer;
  private readonly authorityExtensions: Buffer;
  private readonly commonNameOid = oidDer(OID_COMMON_NAME);
  private readonly subjectAltNameOid = oidDer(OID_SUBJECT_ALT_NAME);
  private readonly subjectKeyIdOid = oidDer(OID_SUBJECT_KEY_IDENTIFIER);
  private readonly offlinePolicyOid = oidDer(OID_EXT_LANTERN_OFFLINE_POLICY);
  private readonly keyAssuranceOid = oidDer(OID_EXT_LANTERN_KEY_ASSURANCE);

  constructor(authority: IssuingAuthority, profile: DeviceBindingProfile) {
    const der = (value: unknown): Buffer => Buffer.from(AsnConvert.serialize(value));
    this.signatureAndIssuer = Buffer.concat([
      der(new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 })),
      der(authority.subject),
    ]);
    this.leadingExtensions = Buffer.concat([
      der(extensions.basicConstraints(false)),
      der(extensions.keyUsage(keyUsageFlags(profile.keyUsage))),
      der(
        extensions.extendedKeyUsage(
          profile.extendedKeyUsage.map((name) => {
            const oid = EKU_NAMES[name];
            if (!oid) throw new TypeError(`unknown EKU "${name}" in profile`);
            return oid;
          }),
        ),
      ),
    ]);
    this.authorityExtensions = Buffer.concat([
      der(extensions.authorityKeyIdentifier(authority.keyId)),
      der(extensions.crlDistributionPoint(authority.crlUrl)),
    ]);
  }

  tbs(fields: BindingTbsFields): Buffer {
    const spki = readDer(fields.subjectPublicKeyInfo, TAG.sequence);
    const spkiParts = childrenOf(spki);
    spkiParts.read(TAG.sequence);
    const subjectPublicKey = bitStringValue(spkiParts.read(TAG.bitString)).bytes;
    spkiParts.finish();
    // RFC 7093 §2 method 1, as the CA certificates' identifiers.
    const keyId = createHash('sha256').update(subjectPublicKey).digest().subarray(0, 20);
    const deviceIdUtf8 = tlv(TAG.utf8String, Buffer.from(fields.deviceId, 'utf8'));
    const uri = deviceUri(fields.tenantId, fields.deviceId);
    if (!/^[\x20-\x7e]*$/.test(uri)) throw new TypeError('device URI must be printable ASCII');

    return tlv(
      TAG.sequence,
      this.versionDer,
      serialInteger(fields.serial),
      this.signatureAndIssuer,
      tlv(TAG.sequence, timeDer(fields.notBefore), timeDer(fields.notAfter)),
      tlv(TAG.sequence, tlv(TAG.set, tlv(TAG.sequence, this.commonNameOid, deviceIdUtf8))),
      spki.raw,
      tlv(
        TAG_EXTENSIONS,
        tlv(
          TAG.sequence,
          this.leadingExtensions,
          this.extension(
            this.subjectAltNameOid,
            tlv(TAG.sequence, tlv(TAG_URI, Buffer.from(uri, 'latin1'))),
          ),
          this.extension(this.subjectKeyIdOid, tlv(TAG.octetString, keyId)),
          this.authorityExtensions,
          this.extension(
            this.offlinePolicyOid,
            tlv(
              TAG.sequence,
              tlv(TAG.utf8String, Buffer.from(fields.tenantId, 'utf8')),
              deviceIdUtf8,
              unsignedInteger(fields.maxOfflineSeconds),
            ),
          ),
          fields.keyAssurance === undefined
            ? Buffer.alloc(0)
            : this.extension(
                this.keyAssuranceOid,
                tlv(TAG.utf8String, Buffer.from(fields.keyAssurance, 'utf8')),
              ),
        ),
      ),
    );
  }

  /** A non-critical extension: `SEQUENCE { extnID, extnValue OCTET STRING }`. */
  private extension(oid: Buffer, value: Buffer): Buffer {
    return tlv(TAG.sequence, oid, tlv(TAG.octetString, value));
  }
}
