import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChainCache } from '../src/x509/chain-cache.js';
import { parseCertificate } from '../src/x509/parse-certificate.js';
import {
  OID_EKU_CLIENT_AUTH,
  OID_EKU_LANTERN_DEVICE_BINDING,
  OID_EKU_SERVER_AUTH,
} from '../src/x509/profile.js';
import {
  type PathValidationInput,
  type PathVerdict,
  validateCertificatePath,
} from '../src/x509/validate-path.js';

const ECDSA = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
const AT = new Date('2026-03-01T12:00:00Z');
/** What binding certificates carry, including Lantern's 2.25.<128-bit> arc. */
const BINDING_EKU = [OID_EKU_CLIENT_AUTH, OID_EKU_LANTERN_DEVICE_BINDING];

interface Issued {
  readonly cert: x509.X509Certificate;
  readonly keys: webcrypto.CryptoKeyPair;
  readonly der: Uint8Array;
}

interface CertOptions {
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly extensions?: x509.Extension[];
  readonly keys?: webcrypto.CryptoKeyPair;
}

const generateKeys = (): Promise<webcrypto.CryptoKeyPair> =>
  webcrypto.subtle.generateKey(ECDSA, true, ['sign', 'verify']);

/** Positive, non-zero, 16 octets. */
const serial = (): string => `01${randomBytes(15).toString('hex')}`;

async function issue(
  subject: string,
  issuer: Issued | undefined,
  options: CertOptions,
): Promise<Issued> {
  const keys = options.keys ?? (await generateKeys());
  const signer = issuer?.keys ?? keys;
  const extensions = [
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ...(issuer ? [await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey)] : []),
    ...(options.extensions ?? []),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: issuer?.cert.subject ?? subject,
    notBefore: options.notBefore ?? new Date(AT.getTime() - DAY_MS),
    notAfter: options.notAfter ?? new Date(AT.getTime() + 365 * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: ECDSA,
    extensions,
  });
  return { cert, keys, der: new Uint8Array(cert.rawData) };
}

const caExtensions = (pathLength?: number): x509.Extension[] => [
  new x509.BasicConstraintsExtension(true, pathLength, true),
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
];

const root = (name = 'CN=Test Root, O=Lantern'): Promise<Issued> =>
  issue(name, undefined, { extensions: caExtensions() });

const ca = (issuer: Issued, name: string, pathLength?: number): Promise<Issued> =>
  issue(name, issuer, { extensions: caExtensions(pathLength) });

function leaf(issuer: Issued, options: CertOptions & { eku?: string[] } = {}): Promise<Issued> {
  return issue('CN=device', issuer, {
    ...options,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(options.eku ?? BINDING_EKU),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'urn:lantern:device:x' }]),
      ...(options.extensions ?? []),
    ],
  });
}

/** DER INTEGER for the CRL number extension (@peculiar/x509 has no class for it). */
const crlNumber = (n: number): x509.Extension =>
  new x509.Extension('2.5.29.20', false, new Uint8Array([0x02, 0x01, n]));

async function crl(signer: Issued, serials: string[], issuer: Issued = signer): Promise<string> {
  const list = await x509.X509CrlGenerator.create({
    issuer: issuer.cert.subject,
    thisUpdate: new Date(AT.getTime() - DAY_MS),
    nextUpdate: new Date(AT.getTime() + 7 * DAY_MS),
    signingKey: signer.keys.privateKey,
    signingAlgorithm: ECDSA,
    extensions: [
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
      crlNumber(1),
    ],
    entries: serials.map((serialNumber) => ({
      serialNumber,
      revocationDate: new Date(AT.getTime() - 3_600_000),
      reason: x509.X509CrlReason.keyCompromise,
    })),
  });
  return list.toString('pem');
}

function expectFailure(verdict: PathVerdict, reason: string): void {
  expect(verdict.ok ? 'ok' : `${verdict.reason}: ${verdict.detail}`).toMatch(
    new RegExp(`^${reason}: `),
  );
}

describe('validateCertificatePath on generated chains', () => {
  let rootCa: Issued;
  let issuing: Issued;
  let device: Issued;
  let good: PathValidationInput;

  beforeAll(async () => {
    rootCa = await root();
    issuing = await ca(rootCa, 'CN=Test Issuing CA, O=Lantern', 0);
    device = await leaf(issuing);
    good = {
      leaf: device.cert.toString('pem'),
      intermediates: [issuing.der],
      trustAnchors: [rootCa.der],
      at: AT,
      requiredEku: BINDING_EKU,
    };
  });

  it('accepts root -> issuing (pathLen 0) -> binding leaf, path leaf first', () => {
    const verdict = validateCertificatePath(good);
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.path.map((cert) => cert.subject)).toEqual([
      'CN=device',
      'CN=Test Issuing CA, O=Lantern',
      'CN=Test Root, O=Lantern',
    ]);
    expect(verdict.path[0]?.subjectAltNameUris).toEqual(['urn:lantern:device:x']);
    expect(verdict.path[0]?.extendedKeyUsage).toEqual(BINDING_EKU);
  });

  it('rejects a chain to a different root of the same name: no_path', async () => {
    const impostor = await root();
    expectFailure(validateCertificatePath({ ...good, trustAnchors: [impostor.der] }), 'no_path');
  });

  it('rejects a missing intermediate: no_path', () => {
    expectFailure(validateCertificatePath({ ...good, intermediates: [] }), 'no_path');
  });

  it('rejects an expired leaf, one second after notAfter', async () => {
    const notAfter = new Date(AT.getTime() - 1000);
    const expired = await leaf(issuing, { notAfter });
    expectFailure(validateCertificatePath({ ...good, leaf: expired.der }), 'expired');
    expect(validateCertificatePath({ ...good, leaf: expired.der, at: notAfter }).ok).toBe(true);
  });

  it('rejects a leaf that is not yet valid', async () => {
    const early = await leaf(issuing, { notBefore: new Date(AT.getTime() + 60_000) });
    expectFailure(validateCertificatePath({ ...good, leaf: early.der }), 'not_yet_valid');
  });

  it('rejects an intermediate without the CA bit: not_a_ca', async () => {
    const notCa = await issue('CN=Not A CA', rootCa, {
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
    });
    const child = await leaf(notCa);
    expectFailure(
      validateCertificatePath({ ...good, leaf: child.der, intermediates: [notCa.der] }),
      'not_a_ca',
    );
  });

  it('rejects a CA below the pathLen 0 issuing CA: path_length_exceeded', async () => {
    const sub = await ca(issuing, 'CN=Rogue Sub CA');
    const child = await leaf(sub);
    expectFailure(
      validateCertificatePath({ ...good, leaf: child.der, intermediates: [sub.der, issuing.der] }),
      'path_length_exceeded',
    );
  });

  it('rejects a leaf without every required EKU: wrong_eku', async () => {
    const server = await leaf(issuing, { eku: [OID_EKU_SERVER_AUTH] });
    expectFailure(validateCertificatePath({ ...good, leaf: server.der }), 'wrong_eku');
    const clientOnly = await leaf(issuing, { eku: [OID_EKU_CLIENT_AUTH] });
    expectFailure(validateCertificatePath({ ...good, leaf: clientOnly.der }), 'wrong_eku');
  });

  it('rejects an unknown critical extension: unknown_critical_extension', async () => {
    const odd = await leaf(issuing, {
      extensions: [new x509.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([0x05, 0x00]))],
    });
    expectFailure(
      validateCertificatePath({ ...good, leaf: odd.der }),
      'unknown_critical_extension',
    );
  });

  it('rejects a leaf revoked by its issuer CRL and accepts one that is not listed', async () => {
    const list = await crl(issuing, [device.cert.serialNumber]);
    expectFailure(validateCertificatePath({ ...good, crls: [list] }), 'revoked');
    const other = await crl(issuing, ['0badc0de']);
    // With CRLs every certificate below the anchor needs one: the root's covers the issuing CA.
    expectFailure(validateCertificatePath({ ...good, crls: [other] }), 'revocation_unknown');
    const fromRoot = await crl(rootCa, []);
    expect(validateCertificatePath({ ...good, crls: [other, fromRoot] }).ok).toBe(true);
    expect(validateCertificatePath({ ...good, crls: [other], revocationCheck: 'leaf' }).ok).toBe(
      true,
    );
  });

  it('does not count a CRL in the issuer name that the issuer did not sign', async () => {
    const forged = await crl(rootCa, [], issuing);
    expectFailure(
      validateCertificatePath({ ...good, crls: [forged], revocationCheck: 'leaf' }),
      'revocation_unknown',
    );
  });

  it('asks isRevoked about the leaf and intermediates, never the anchor', () => {
    const asked: string[] = [];
    const verdict = validateCertificatePath({
      ...good,
      isRevoked: (cert) => {
        asked.push(cert.subject);
        return cert.subject.startsWith('CN=Test Issuing');
      },
    });
    expectFailure(verdict, 'revoked');
    expect(asked).toEqual(['CN=device', 'CN=Test Issuing CA, O=Lantern']);
  });

  it('rejects a tampered signature: bad_signature', () => {
    const tampered = new Uint8Array(device.der);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x01;
    expectFailure(validateCertificatePath({ ...good, leaf: tampered }), 'bad_signature');
  });

  it('rejects an intermediate beyond maxDepth: depth_exceeded', () => {
    expectFailure(validateCertificatePath({ ...good, maxDepth: 0 }), 'depth_exceeded');
  });

  it('returns malformed for input that is not a certificate, without throwing', () => {
    expectFailure(validateCertificatePath({ ...good, leaf: 'not a certificate' }), 'malformed');
    expectFailure(
      validateCertificatePath({ ...good, intermediates: [new Uint8Array([0x30, 0x03, 1])] }),
      'malformed',
    );
    expectFailure(validateCertificatePath({ ...good, crls: ['garbage'] }), 'malformed');
  });

  it('accepts pre-parsed certificates and a leaf that is itself a trust anchor', () => {
    const parsed = parseCertificate(issuing.der);
    expect(validateCertificatePath({ ...good, intermediates: [parsed] }).ok).toBe(true);
    const pinned = validateCertificatePath({ ...good, trustAnchors: [device.der] });
    expect(pinned.ok && pinned.path.length).toBe(1);
  });

  it('never validates, and never throws, when one byte of the leaf changes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: device.der.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (index, flip) => {
          const mutated = new Uint8Array(device.der);
          mutated[index] = (mutated[index] ?? 0) ^ flip;
          expect(validateCertificatePath({ ...good, leaf: mutated }).ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('validateCertificatePath signature algorithms', () => {
  const RSA = {
    name: 'RSASSA-PKCS1-v1_5',
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  };
  const P384 = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
  const ED25519 = { name: 'Ed25519' };

  const keysFor = (algorithm: object): Promise<webcrypto.CryptoKeyPair> =>
    webcrypto.subtle.generateKey(algorithm as webcrypto.EcKeyGenParams, true, [
      'sign',
      'verify',
    ]) as Promise<webcrypto.CryptoKeyPair>;

  async function signed(
    subject: string,
    keys: webcrypto.CryptoKeyPair,
    issuer: { name: string; keys: webcrypto.CryptoKeyPair; algorithm: object },
    ca: boolean,
  ): Promise<Uint8Array> {
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: issuer.name,
      notBefore: new Date(AT.getTime() - DAY_MS),
      notAfter: new Date(AT.getTime() + DAY_MS),
      publicKey: keys.publicKey,
      signingKey: issuer.keys.privateKey,
      signingAlgorithm: issuer.algorithm as webcrypto.EcdsaParams,
      extensions: [
        ...(ca ? caExtensions() : []),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        ...(subject === issuer.name
          ? []
          : [await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey)]),
      ],
    });
    return new Uint8Array(cert.rawData);
  }

  it('verifies RSA PKCS#1 v1.5, ECDSA P-384/SHA-384 and Ed25519 along one path', async () => {
    const rsa = await keysFor({ ...RSA, modulusLength: 2048 });
    const p384 = await keysFor(P384);
    const ed = await keysFor(ED25519);
    const rootCert = await signed(
      'CN=RSA',
      rsa,
      { name: 'CN=RSA', keys: rsa, algorithm: RSA },
      true,
    );
    const mid = await signed('CN=P384', p384, { name: 'CN=RSA', keys: rsa, algorithm: RSA }, true);
    const edCa = await signed('CN=Ed', ed, { name: 'CN=P384', keys: p384, algorithm: P384 }, true);
    const end = await signed(
      'CN=end',
      p384,
      { name: 'CN=Ed', keys: ed, algorithm: ED25519 },
      false,
    );
    const verdict = validateCertificatePath({
      leaf: end,
      intermediates: [edCa, mid],
      trustAnchors: [rootCert],
      at: AT,
    });
    expect(verdict.ok && verdict.path.map((cert) => cert.subject)).toEqual([
      'CN=end',
      'CN=Ed',
      'CN=P384',
      'CN=RSA',
    ]);
  });

  it('refuses SHA-1 and short RSA keys: unsupported_algorithm', async () => {
    const issuer = await root('CN=Legacy');
    const sha1 = { name: 'ECDSA', hash: 'SHA-1' };
    const viaSha1 = await signed(
      'CN=sha1',
      await generateKeys(),
      {
        name: 'CN=Legacy',
        keys: issuer.keys,
        algorithm: sha1,
      },
      false,
    );
    const base = { intermediates: [], trustAnchors: [issuer.der], at: AT };
    expectFailure(validateCertificatePath({ ...base, leaf: viaSha1 }), 'unsupported_algorithm');
    const weak = await keysFor({ ...RSA, modulusLength: 1024 });
    const weakRoot = await signed(
      'CN=Weak',
      weak,
      { name: 'CN=Weak', keys: weak, algorithm: RSA },
      true,
    );
    const underWeak = await signed(
      'CN=under',
      await generateKeys(),
      {
        name: 'CN=Weak',
        keys: weak,
        algorithm: RSA,
      },
      false,
    );
    expectFailure(
      validateCertificatePath({ ...base, leaf: underWeak, trustAnchors: [weakRoot] }),
      'unsupported_algorithm',
    );
  });
});

describe('ChainCache', () => {
  let good: PathValidationInput;
  let leafNotAfter: Date;

  beforeAll(async () => {
    const rootCa = await root();
    const issuing = await ca(rootCa, 'CN=Cache Issuing CA', 0);
    leafNotAfter = new Date(AT.getTime() + DAY_MS);
    const device = await leaf(issuing, { notAfter: leafNotAfter });
    good = {
      leaf: device.der,
      intermediates: [issuing.der],
      trustAnchors: [rootCa.der],
      at: AT,
    };
  });

  it('serves a repeated chain from the cache and still checks time and revocation', () => {
    const cache = new ChainCache();
    const first = cache.validate(good);
    expect(first.ok).toBe(true);
    expect(cache.validate({ ...good, at: new Date(AT.getTime() + 1000) })).toBe(first);
    expect(cache.size).toBe(1);
    expectFailure(
      cache.validate({ ...good, at: new Date(leafNotAfter.getTime() + 1000) }),
      'expired',
    );
    expectFailure(cache.validate({ ...good, isRevoked: () => true }), 'revoked');
  });

  it('keys on the whole input and evicts the least recently used entry', async () => {
    const cache = new ChainCache({ maxEntries: 1 });
    cache.validate(good);
    const other = await root('CN=Other Root');
    const otherVerdict = cache.validate({ ...good, trustAnchors: [other.der] });
    expect(otherVerdict.ok).toBe(false);
    expect(cache.size).toBe(1);
    const again = await leaf(await ca(other, 'CN=Other Issuing', 0));
    expect(cache.validate({ ...good, leaf: again.der }).ok).toBe(false);
  });
});
