import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  OID_EKU_CLIENT_AUTH,
  OID_EKU_LANTERN_DEVICE_BINDING,
  OID_EXT_LANTERN_OFFLINE_POLICY,
  decodeOfflinePolicy,
  deviceUri,
  encodeOfflinePolicy,
  manualClock,
  parseCertificate,
  validateCertificatePath,
} from '@lantern/shared';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  Extension,
  GeneralName,
  SubjectAlternativeName,
  id_ce_subjectAltName,
} from '@peculiar/asn1-x509';
import fc from 'fast-check';
import type { KeyObject } from 'node:crypto';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openssl } from '../../test/support/processes.js';
import type { BindingTbsFields } from '../src/issuance/binding-certificate-template.js';
import { BindingCertificateTemplate } from '../src/issuance/binding-certificate-template.js';
import type { IssuingAuthority } from '../src/pki/issuing-authority.js';
import { issueBindingCertificate } from '../src/issuance/binding-certificate.js';
import { createCaHierarchy, keyUsageFlags } from '../src/pki/ca-hierarchy.js';
import {
  distinguishedName,
  encodeTbsCertificate,
  extensions,
  keyIdentifier,
  signTbs,
  subjectOf,
} from '../src/pki/certificate-builder.js';
import { toPem } from '@lantern/shared';
import { profiles } from '../src/pki/profiles.js';
import type { Signer } from '../src/pki/signer.js';
import { keyObjectSigner } from '../src/pki/signer.js';

const NOW = Date.UTC(2026, 10, 23, 10, 0, 0);
const DAY_MS = 86_400_000;
const profile = profiles.deviceBinding();
const EKUS: Record<string, string> = {
  clientAuth: OID_EKU_CLIENT_AUTH,
  lanternDeviceBinding: OID_EKU_LANTERN_DEVICE_BINDING,
};

const nonCritical = (extnID: string, der: ArrayBuffer) =>
  new Extension({ extnID, critical: false, extnValue: new OctetString(der) });

/** The generic @peculiar/asn1-schema build the template replaced: the reference encoding. */
function referenceTbs(authority: IssuingAuthority, fields: BindingTbsFields): Buffer {
  return Buffer.from(
    encodeTbsCertificate({
      serial: fields.serial,
      issuer: authority.subject,
      subject: distinguishedName(fields.deviceId),
      notBefore: fields.notBefore,
      notAfter: fields.notAfter,
      subjectPublicKeyInfo: fields.subjectPublicKeyInfo,
      extensions: [
        extensions.basicConstraints(false),
        extensions.keyUsage(keyUsageFlags(profile.keyUsage)),
        extensions.extendedKeyUsage(profile.extendedKeyUsage.map((name) => EKUS[name] ?? name)),
        nonCritical(
          id_ce_subjectAltName,
          AsnConvert.serialize(
            new SubjectAlternativeName([
              new GeneralName({
                uniformResourceIdentifier: deviceUri(fields.tenantId, fields.deviceId),
              }),
            ]),
          ),
        ),
        extensions.subjectKeyIdentifier(keyIdentifier(fields.subjectPublicKeyInfo)),
        extensions.authorityKeyIdentifier(authority.keyId),
        extensions.crlDistributionPoint(authority.crlUrl),
        nonCritical(
          OID_EXT_LANTERN_OFFLINE_POLICY,
          encodeOfflinePolicy({
            tenantId: fields.tenantId,
            deviceId: fields.deviceId,
            maxOfflineSeconds: fields.maxOfflineSeconds,
          }),
        ),
      ],
    }),
  );
}

/** ECDSA signatures are randomised: one signature per TBS, so equal TBS gives equal certificates. */
function memoSigner(inner: Signer): Signer {
  const made = new Map<string, Buffer>();
  return {
    publicKey: inner.publicKey,
    async sign(data, encoding) {
      const key = `${encoding ?? 'der'}:${Buffer.from(data).toString('hex')}`;
      const known = made.get(key) ?? (await inner.sign(data, encoding));
      made.set(key, known);
      return known;
    },
  };
}

const spkiOf = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' });

let rootDer: Buffer;
let issuingDer: Buffer;
let authority: IssuingAuthority;
let template: BindingCertificateTemplate;
let deviceKeys: Buffer[];
const dir = mkdtempSync(join(tmpdir(), 'lantern-template-'));

beforeAll(async () => {
  const hierarchy = await createCaHierarchy(
    manualClock(NOW - DAY_MS),
    profiles.rootCa(),
    profiles.issuingCa(),
  );
  rootDer = hierarchy.rootCertificate;
  issuingDer = hierarchy.issuingCertificate;
  const signer = memoSigner(keyObjectSigner(hierarchy.issuingKey));
  authority = {
    certificate: issuingDer,
    subject: subjectOf(issuingDer),
    keyId: keyIdentifier(spkiOf(signer.publicKey)),
    signer,
    crlUrl: 'https://ca.example.test/v1/crl',
  };
  template = new BindingCertificateTemplate(authority, profile);
  deviceKeys = Array.from({ length: 6 }, () =>
    spkiOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey),
  );
  writeFileSync(join(dir, 'root.pem'), toPem(rootDer));
  writeFileSync(join(dir, 'issuing.pem'), toPem(issuingDer));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fields(overrides: Partial<BindingTbsFields> = {}): BindingTbsFields {
  return {
    serial: Buffer.from('0123456789abcdef0123456789abcdef', 'hex'),
    tenantId: 'ten_01JD5X8Q9Z3V7K2M4N6P8R0S1T',
    deviceId: 'dev_01JD5X8Q9Z3V7K2M4N6P8R0S1V',
    subjectPublicKeyInfo: deviceKeys[0] as Buffer,
    notBefore: new Date(NOW - 300_000),
    notAfter: new Date(NOW + 30 * DAY_MS),
    maxOfflineSeconds: profile.maxOfflineSeconds,
    ...overrides,
  };
}

const idChars = fc.constantFrom(
  ...'ABCDEFGHJKMNPQRSTVWXYZ0123456789abcdefghijklmnopqrstuvwxyz_-.~'.split(''),
);

describe('BindingCertificateTemplate: byte-for-byte the generic builder', () => {
  it('for random ids, serials, validity, keys and offline limits', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: idChars, minLength: 1, maxLength: 300 }),
        fc.string({ unit: idChars, minLength: 1, maxLength: 300 }),
        fc.uint8Array({ minLength: 1, maxLength: 20 }),
        fc.integer({ min: Date.UTC(1950, 0, 1) / 1000, max: Date.UTC(2200, 0, 1) / 1000 }),
        fc.integer({ min: 1, max: 400 * 86_400 }),
        fc.nat(deviceKeys.length - 1),
        fc.nat(2 ** 32),
        (tenantId, deviceId, serialBytes, notBeforeS, lifetimeS, keyIndex, maxOffline) => {
          // The reference writes the serial bytes as given, so give it canonical positive ones.
          const serial = Buffer.from([
            0x01 | ((serialBytes[0] ?? 0) & 0x7f),
            ...serialBytes.slice(1),
          ]);
          const input = fields({
            tenantId,
            deviceId,
            serial,
            notBefore: new Date(notBeforeS * 1000),
            notAfter: new Date((notBeforeS + lifetimeS) * 1000),
            subjectPublicKeyInfo: deviceKeys[keyIndex] as Buffer,
            maxOfflineSeconds: maxOffline,
          });
          expect(template.tbs(input).toString('hex')).toBe(
            referenceTbs(authority, input).toString('hex'),
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it('across every length-octet boundary (127/128, 255/256) of the nested structures', () => {
    const lengths = new Set<number>();
    for (let n = 1; n <= 320; n++) {
      for (const input of [
        fields({ deviceId: 'd'.repeat(n) }),
        fields({ tenantId: 't'.repeat(n) }),
      ]) {
        const ours = template.tbs(input);
        expect(ours.equals(referenceTbs(authority, input)), `length ${n}`).toBe(true);
        lengths.add(ours[1] === 0x82 ? ((ours[2] ?? 0) << 8) | (ours[3] ?? 0) : -1);
      }
    }
    // The sweep must have taken the TBS itself past 256 and the subject past 127 and 255.
    expect([...lengths].some((length) => length > 0xff)).toBe(true);
    const longest = template.tbs(fields({ deviceId: 'd'.repeat(320) }));
    expect(parseCertificate(certificateAround(longest)).subject).toContain('d'.repeat(320));
  });

  it('encodes a serial with the high bit set as a positive INTEGER, and strips leading zeros', () => {
    const high = Buffer.from('80ff00112233445566778899aabbccdd', 'hex');
    const ours = template.tbs(fields({ serial: high }));
    expect(
      ours.equals(
        referenceTbs(authority, fields({ serial: Buffer.concat([Buffer.from([0]), high]) })),
      ),
    ).toBe(true);
    expect(parseCertificate(certificateAround(ours)).serialNumber).toBe(
      `00${high.toString('hex')}`,
    );
    const padded = Buffer.from('0000007f01', 'hex');
    expect(
      template
        .tbs(fields({ serial: padded }))
        .equals(referenceTbs(authority, fields({ serial: Buffer.from('7f01', 'hex') }))),
    ).toBe(true);
  });

  it('refuses a zero, empty or over-long serial and a negative or fractional offline limit', () => {
    expect(() => template.tbs(fields({ serial: Buffer.alloc(0) }))).toThrow(/positive/);
    expect(() => template.tbs(fields({ serial: Buffer.alloc(3) }))).toThrow(/positive/);
    expect(() => template.tbs(fields({ serial: Buffer.alloc(20, 0xff) }))).toThrow(/20 octets/);
    expect(() => template.tbs(fields({ serial: Buffer.alloc(21, 0x11) }))).toThrow(/20 octets/);
    expect(template.tbs(fields({ serial: Buffer.alloc(20, 0x11) })).length).toBeGreaterThan(0);
    expect(() => template.tbs(fields({ maxOfflineSeconds: -1 }))).toThrow(TypeError);
    expect(() => template.tbs(fields({ maxOfflineSeconds: 1.5 }))).toThrow(TypeError);
  });

  it('refuses a key that is not one DER SubjectPublicKeyInfo and a non-ASCII device URI', () => {
    const spki = deviceKeys[0] as Buffer;
    expect(() => template.tbs(fields({ subjectPublicKeyInfo: spki.subarray(0, 40) }))).toThrow();
    expect(() =>
      template.tbs(fields({ subjectPublicKeyInfo: Buffer.concat([spki, Buffer.from([0])]) })),
    ).toThrow();
    expect(() => template.tbs(fields({ deviceId: 'dev_é' }))).toThrow(/ASCII/);
  });

  it('switches to GeneralizedTime from 2050 exactly as RFC 5280 §4.1.2.5 says', () => {
    const cases = [
      [Date.UTC(2049, 11, 31, 23, 59, 59), 0x17],
      [Date.UTC(2050, 0, 1, 0, 0, 0), 0x18],
      [Date.UTC(9999, 11, 31, 23, 59, 59), 0x18],
    ] as const;
    for (const [ms, tag] of cases) {
      const input = fields({ notAfter: new Date(ms) });
      const ours = template.tbs(input);
      expect(ours.equals(referenceTbs(authority, input))).toBe(true);
      const cert = parseCertificate(certificateAround(ours));
      expect(cert.notAfter.getTime()).toBe(ms);
      const validity = tbsValidity(ours);
      expect(validity[validity.length - (tag === 0x17 ? 15 : 17)]).toBe(tag);
    }
    // Milliseconds are dropped (RFC 5280 times have none), as the generic builder did.
    const fractional = fields({ notBefore: new Date(NOW - 300_000 + 999) });
    expect(template.tbs(fractional).equals(template.tbs(fields()))).toBe(true);
  });
});

describe('issueBindingCertificate through the template', () => {
  it('yields a certificate @peculiar/x509, the strict validator and openssl all accept', async () => {
    const tenantId = 'ten_01JD5X8Q9Z3V7K2M4N6P8R0S1T';
    const deviceId = 'dev_01JD5X8Q9Z3V7K2M4N6P8R0S1W';
    const nowMs = Math.floor(Date.now() / 1000) * 1000;
    const request = {
      tenantId,
      deviceId,
      subjectPublicKeyInfo: deviceKeys[1] as Buffer,
      notBefore: new Date(nowMs - 300_000),
      notAfter: new Date(nowMs + 30 * DAY_MS),
      maxOfflineSeconds: profile.maxOfflineSeconds,
    };
    const issued = await issueBindingCertificate(authority, profile, request);

    // Byte-for-byte: the reference certificate for the same serial is the very same DER.
    const reference = await signTbs(
      referenceTbs(authority, { ...request, serial: Buffer.from(issued.serialHex, 'hex') }),
      authority.signer,
    );
    expect(issued.der.equals(reference)).toBe(true);

    const peculiar = new x509.X509Certificate(issued.der);
    expect(peculiar.subject).toBe(`CN=${deviceId}`);
    expect(peculiar.serialNumber.toLowerCase()).toBe(issued.serialHex);
    expect(
      await peculiar.verify({
        publicKey: await new x509.X509Certificate(issuingDer).publicKey.export(),
        signatureOnly: true,
      }),
    ).toBe(true);
    const san = peculiar.getExtension(x509.SubjectAlternativeNameExtension);
    expect(san?.names.items.map((name) => name.value)).toEqual([deviceUri(tenantId, deviceId)]);
    const policy = parseCertificate(issued.der).extensions.find(
      (extension) => extension.oid === OID_EXT_LANTERN_OFFLINE_POLICY,
    );
    expect(policy?.critical).toBe(false);
    expect(decodeOfflinePolicy(policy?.value ?? new Uint8Array())).toEqual({
      tenantId,
      deviceId,
      maxOfflineSeconds: profile.maxOfflineSeconds,
    });

    const verdict = validateCertificatePath({
      leaf: issued.der,
      intermediates: [issuingDer],
      trustAnchors: [rootDer],
      at: new Date(nowMs),
      requiredEku: [OID_EKU_CLIENT_AUTH, OID_EKU_LANTERN_DEVICE_BINDING],
    });
    expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
    const tampered = Buffer.from(issued.der);
    const at = tampered.length - 70;
    tampered[at] = (tampered[at] ?? 0) ^ 0x01;
    expect(
      validateCertificatePath({
        leaf: tampered,
        intermediates: [issuingDer],
        trustAnchors: [rootDer],
        at: new Date(nowMs),
      }).ok,
    ).toBe(false);

    const leafFile = join(dir, 'leaf.pem');
    writeFileSync(leafFile, issued.pem);
    const text = openssl(['x509', '-in', leafFile, '-noout', '-text']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`Subject: CN ?= ?${deviceId}\\n`));
    expect(text.stdout).toContain(`URI:${deviceUri(tenantId, deviceId)}`);
    expect(text.stdout).toContain('URI:https://ca.example.test/v1/crl');
    expect(text.stdout).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text.stdout).toMatch(/X509v3 Key Usage: critical\s+Digital Signature/);
    const verify = openssl([
      'verify',
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'issuing.pem'),
      '-purpose',
      'sslclient',
      leafFile,
    ]);
    expect(verify.stdout + verify.stderr).toContain(': OK');
    expect(verify.status).toBe(0);

    const tamperedFile = join(dir, 'tampered.pem');
    writeFileSync(tamperedFile, toPem(tampered));
    const refused = openssl([
      'verify',
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'issuing.pem'),
      tamperedFile,
    ]);
    expect(refused.status).not.toBe(0);
  });
});

/** A structurally complete certificate around a TBS (signature not valid) for the parsers. */
function certificateAround(tbs: Buffer): Buffer {
  const algorithm = Buffer.from('300a06082a8648ce3d040302', 'hex');
  const body = Buffer.concat([tbs, algorithm, Buffer.from([0x03, 0x01, 0x00])]);
  const length =
    body.length < 0x100
      ? Buffer.from([0x81, body.length])
      : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([Buffer.from([0x30]), length, body]);
}

/** The Validity SEQUENCE's bytes: after version, serial, algorithm and issuer. */
function tbsValidity(tbs: Buffer): Buffer {
  const cert = parseCertificate(certificateAround(tbs));
  const start = tbs.indexOf(cert.raw.issuer) + cert.raw.issuer.length;
  const length = tbs[start + 1] ?? 0;
  return tbs.subarray(start, start + 2 + length);
}
