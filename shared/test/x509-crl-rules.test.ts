/**
 * The CRL rules of the path validator (docs/security.md, "CRL rules"), each with a throwaway
 * PKI built per test. Every case here was answered "ok" (or `crl_invalid`) by the validator
 * before CRLs failed closed.
 */
import { describe, expect, it } from 'vitest';
import { ChainCache } from '../src/x509/chain-cache.js';
import { nameMatchKey } from '../src/x509/distinguished-name.js';
import {
  type PathValidationInput,
  type PathVerdict,
  validateCertificatePath,
} from '../src/x509/validate-path.js';
import { CN, O, type TestCert, certificate, crl, idp, name } from './support/test-pki.js';

const AT = new Date('2026-06-01T12:00:00Z');
const ISSUING = name([CN, 'Lantern Issuing CA'], [O, 'Lantern']);
const CDP = 'https://ca.example.test/v1/crl';

interface Pki {
  root: TestCert;
  issuing: TestCert;
  leaf: TestCert;
  /** Leaf checked ('leaf'), intermediates supplied, root the only anchor. */
  input: (crls: Uint8Array[], extra?: Partial<PathValidationInput>) => PathValidationInput;
}

function pki(): Pki {
  const root = certificate({ subject: name([CN, 'Test Root'], [O, 'Lantern']), ca: true, at: AT });
  const issuing = certificate({ subject: ISSUING, issuer: root, ca: true, at: AT });
  const leaf = certificate({
    subject: name([CN, 'device']),
    issuer: issuing,
    crlDistributionPoint: CDP,
    at: AT,
  });
  return {
    root,
    issuing,
    leaf,
    input: (crls, extra = {}) => ({
      leaf: leaf.der,
      intermediates: [issuing.der],
      trustAnchors: [root.der],
      at: AT,
      crls,
      revocationCheck: 'leaf',
      ...extra,
    }),
  };
}

function outcome(verdict: PathVerdict): string {
  return verdict.ok ? 'ok' : `${verdict.reason}: ${verdict.detail}`;
}

const expectReason = (verdict: PathVerdict, reason: string): void => {
  expect(outcome(verdict)).toMatch(new RegExp(`^${reason}\\b`));
};

describe('CRL rules: coverage', () => {
  it('a leaf listed on its issuer CRL is revoked; one that is not listed is ok', () => {
    const { issuing, leaf, input } = pki();
    expectReason(
      validateCertificatePath(input([crl({ signer: issuing, revoked: [leaf.serial], at: AT })])),
      'revoked',
    );
    expectReason(validateCertificatePath(input([crl({ signer: issuing, at: AT })])), 'ok');
  });

  it('revocation asked and no CRL at all: revocation_unknown, not ok', () => {
    const { input } = pki();
    expectReason(validateCertificatePath(input([])), 'revocation_unknown');
    expectReason(validateCertificatePath(input([], { revocationCheck: undefined })), 'ok');
  });

  it("'chain' (the default with CRLs) needs the root's CRL for the intermediate too", () => {
    const { root, issuing, input } = pki();
    const issuingCrl = crl({ signer: issuing, at: AT });
    const only = validateCertificatePath(input([issuingCrl], { revocationCheck: undefined }));
    expectReason(only, 'revocation_unknown');
    expect(outcome(only)).toContain('Lantern Issuing CA');
    const both = [issuingCrl, crl({ signer: root, at: AT })];
    expectReason(validateCertificatePath(input(both, { revocationCheck: 'chain' })), 'ok');
    const revokedCa = [issuingCrl, crl({ signer: root, revoked: [issuing.serial], at: AT })];
    expectReason(validateCertificatePath(input(revokedCa)), 'revoked');
  });

  it('an unknown critical extension or entry extension, no cRLNumber, a repeated serial: unusable', () => {
    const { issuing, input } = pki();
    const odd = { oid: '1.3.6.1.4.1.99999.7', critical: true, value: Buffer.from([0x05, 0x00]) };
    const cases = [
      crl({ signer: issuing, extensions: [odd], at: AT }),
      crl({ signer: issuing, revoked: [{ serial: '0badc0de', extensions: [odd] }], at: AT }),
      // certificateIssuer marks an indirect CRL entry: not supported, so not understood.
      crl({
        signer: issuing,
        revoked: [
          {
            serial: '0badc0de',
            extensions: [{ oid: '2.5.29.29', critical: true, value: Buffer.from([0x30, 0x00]) }],
          },
        ],
        at: AT,
      }),
      crl({ signer: issuing, number: null, at: AT }),
      crl({ signer: issuing, revoked: ['0badc0de', '0badc0de'], at: AT }),
      crl({ signer: issuing, numberCritical: true, at: AT }),
    ];
    for (const list of cases) {
      expectReason(validateCertificatePath(input([list])), 'revocation_unknown');
    }
  });
});

describe('CRL rules: time', () => {
  it('only a CRL current at the validation time says "not revoked"; any CRL proves a listing', () => {
    const { issuing, leaf, input } = pki();
    const day = 86_400_000;
    const stale = {
      thisUpdate: new Date(AT.getTime() - 60 * day),
      nextUpdate: new Date(AT.getTime() - 30 * day),
    };
    const future = { thisUpdate: new Date(AT.getTime() + day) };
    for (const dates of [stale, future, { nextUpdate: null }]) {
      expectReason(
        validateCertificatePath(input([crl({ signer: issuing, ...dates, at: AT })])),
        'revocation_unknown',
      );
    }
    const staleListing = crl({ signer: issuing, ...stale, revoked: [leaf.serial], at: AT });
    expectReason(validateCertificatePath(input([staleListing])), 'revoked');
    // A stale complete CRL is brought up to date by a current delta on top of it.
    const staleFull = crl({ signer: issuing, ...stale, number: 10, at: AT });
    const delta = crl({ signer: issuing, number: 11, baseNumber: 10, at: AT });
    expectReason(validateCertificatePath(input([staleFull, delta])), 'ok');
  });

  it('the chain cache never reuses a verdict that relied on a CRL', () => {
    const { issuing, input } = pki();
    const cache = new ChainCache();
    const list = crl({ signer: issuing, at: AT });
    expectReason(cache.validate(input([list])), 'ok');
    expectReason(
      cache.validate(input([list], { at: new Date(AT.getTime() + 30 * 86_400_000) })),
      'revocation_unknown',
    );
    expect(cache.size).toBe(0);
  });
});

describe('CRL rules: signed by another key of the CA (RFC 5280 §6.3.3 (f))', () => {
  it('a CRL-signing certificate of the CA, with cRLSign, counts once its path validates', () => {
    const { issuing, leaf, input } = pki();
    const signer = certificate({ subject: ISSUING, issuer: issuing, usages: ['cRLSign'], at: AT });
    const list = crl({ signer, revoked: [leaf.serial], at: AT });
    const withSigner = { intermediates: [issuing.der, signer.der] };
    expectReason(validateCertificatePath(input([list], withSigner)), 'revoked');
    // Without the signer's certificate there is no path for the key: the CRL does not count.
    expectReason(validateCertificatePath(input([list])), 'revocation_unknown');
  });

  it('a signer whose keyUsage lacks cRLSign does not count', () => {
    const { issuing, leaf, input } = pki();
    const signer = certificate({ subject: ISSUING, issuer: issuing, at: AT });
    const list = crl({ signer, revoked: [leaf.serial], at: AT });
    const verdict = validateCertificatePath(
      input([list], { intermediates: [issuing.der, signer.der] }),
    );
    expectReason(verdict, 'revocation_unknown');
    expect(outcome(verdict)).toContain('cRLSign');
  });

  it("a rolled-over key of the issuing CA counts, unless the root's CRL revokes it", () => {
    const { root, issuing, leaf, input } = pki();
    const rolled = certificate({ subject: ISSUING, issuer: root, ca: true, at: AT });
    const byNewKey = crl({ signer: rolled, at: AT });
    const intermediates = { intermediates: [issuing.der, rolled.der] };
    expectReason(validateCertificatePath(input([byNewKey], intermediates)), 'ok');
    const listing = crl({ signer: rolled, revoked: [leaf.serial], at: AT });
    expectReason(validateCertificatePath(input([listing], intermediates)), 'revoked');
    const rootCrl = crl({ signer: root, revoked: [rolled.serial], at: AT });
    const verdict = validateCertificatePath(input([byNewKey, rootCrl], intermediates));
    expectReason(verdict, 'revocation_unknown');
    expect(outcome(verdict)).toContain(`serial ${rolled.serial}`);
  });

  it('a key of a look-alike CA with the same name, under another root, does not count', () => {
    const { leaf, issuing, root, input } = pki();
    const otherRoot = certificate({ subject: name([CN, 'Other Root']), ca: true, at: AT });
    const impostor = certificate({ subject: ISSUING, issuer: otherRoot, ca: true, at: AT });
    const list = crl({ signer: impostor, revoked: [leaf.serial], at: AT });
    // Untrusted: no path for the signer at all.
    expectReason(
      validateCertificatePath(input([list], { intermediates: [issuing.der, impostor.der] })),
      'revocation_unknown',
    );
    // Trusted as a second anchor: still not the anchor of the leaf's path.
    const verdict = validateCertificatePath(
      input([list], {
        intermediates: [issuing.der, impostor.der],
        trustAnchors: [root.der, otherRoot.der],
      }),
    );
    expectReason(verdict, 'revocation_unknown');
  });

  it('a CRL in the issuer name signed by a key with no certificate (forged) does not count', () => {
    const { leaf, issuing, input } = pki();
    const forger = certificate({ subject: ISSUING, ca: true, at: AT });
    const forged = crl({ signer: forger, revoked: [leaf.serial], at: AT });
    expectReason(validateCertificatePath(input([forged])), 'revocation_unknown');
    // Claiming the real issuer's key identifier does not help: the signature does not verify.
    const claiming = crl({ signer: forger, keyId: issuing.key.keyId, at: AT });
    const verdict = validateCertificatePath(input([claiming]));
    expectReason(verdict, 'revocation_unknown');
    expect(outcome(verdict)).toContain('signature invalid');
  });
});

describe('CRL rules: delta CRLs (RFC 5280 §5.2.4)', () => {
  it('a delta CRL alone is never taken for a complete one', () => {
    const { issuing, input } = pki();
    const delta = crl({ signer: issuing, number: 11, baseNumber: 10, at: AT });
    expectReason(validateCertificatePath(input([delta])), 'revocation_unknown');
  });

  it('a delta applies on top of a complete CRL it updates, and only then', () => {
    const { issuing, leaf, input } = pki();
    const full = crl({ signer: issuing, number: 10, at: AT });
    const delta = crl({
      signer: issuing,
      number: 11,
      baseNumber: 10,
      revoked: [leaf.serial],
      at: AT,
    });
    expectReason(validateCertificatePath(input([full, delta])), 'revoked');
    // The complete CRL 10 predates the delta's base 11: the two do not combine.
    const later = crl({
      signer: issuing,
      number: 12,
      baseNumber: 11,
      revoked: [leaf.serial],
      at: AT,
    });
    expectReason(validateCertificatePath(input([full, later])), 'ok');
    // Nor do a complete CRL and a delta of different scopes.
    const scoped = crl({
      signer: issuing,
      number: 11,
      baseNumber: 10,
      idp: idp({ onlyUser: true }),
      revoked: [leaf.serial],
      at: AT,
    });
    expectReason(validateCertificatePath(input([full, scoped])), 'ok');
  });

  it('a delta whose base number is not below its own is unusable', () => {
    const { issuing, leaf, input } = pki();
    const full = crl({ signer: issuing, number: 10, at: AT });
    const odd = crl({
      signer: issuing,
      number: 10,
      baseNumber: 10,
      revoked: [leaf.serial],
      at: AT,
    });
    expectReason(validateCertificatePath(input([full, odd])), 'ok');
    expectReason(validateCertificatePath(input([odd])), 'revocation_unknown');
  });
});

describe('CRL rules: issuing distribution point, honoured or refused', () => {
  it('onlyContainsCACerts does not cover a leaf; onlyContainsUserCerts does not cover a CA', () => {
    const { root, issuing, leaf, input } = pki();
    const caOnly = crl({ signer: issuing, idp: idp({ onlyCa: true }), at: AT });
    expectReason(validateCertificatePath(input([caOnly])), 'revocation_unknown');
    const userOnly = crl({
      signer: issuing,
      idp: idp({ onlyUser: true }),
      revoked: [leaf.serial],
      at: AT,
    });
    expectReason(validateCertificatePath(input([userOnly])), 'revoked');
    const rootUserOnly = crl({ signer: root, idp: idp({ onlyUser: true }), at: AT });
    const chain = input([crl({ signer: issuing, at: AT }), rootUserOnly], {
      revocationCheck: 'chain',
    });
    expectReason(validateCertificatePath(chain), 'revocation_unknown');
  });

  it('a distribution point covers the certificates that name it, and only those', () => {
    const { issuing, leaf, input } = pki();
    const mine = crl({ signer: issuing, idp: idp({ uri: CDP }), revoked: [leaf.serial], at: AT });
    expectReason(validateCertificatePath(input([mine])), 'revoked');
    const other = crl({ signer: issuing, idp: idp({ uri: 'https://elsewhere.test/crl' }), at: AT });
    expectReason(validateCertificatePath(input([other])), 'revocation_unknown');
    // A non-critical IDP (a profile error) is honoured all the same, never ignored.
    const quiet = crl({
      signer: issuing,
      idp: idp({ uri: 'https://elsewhere.test/crl' }),
      idpCritical: false,
      at: AT,
    });
    expectReason(validateCertificatePath(input([quiet])), 'revocation_unknown');
  });

  it('an indirect or reason-partitioned CRL is refused', () => {
    const { issuing, input } = pki();
    for (const scope of [idp({ indirect: true }), idp({ someReasons: true })]) {
      expectReason(
        validateCertificatePath(input([crl({ signer: issuing, idp: scope, at: AT })])),
        'revocation_unknown',
      );
    }
  });
});

describe('CRL rules: names compared per RFC 5280 §7.1', () => {
  it('matches a CRL issuer name in another string type, case and spacing', () => {
    const { issuing, leaf, input } = pki();
    const spelled = name([CN, '  lantern   ISSUING ca ', 'utf8'], [O, 'LANTERN', 'utf8']);
    const list = crl({ signer: issuing, issuerName: spelled, revoked: [leaf.serial], at: AT });
    expectReason(validateCertificatePath(input([list])), 'revoked');
    const typo = name([CN, 'Lantern Issuing CB'], [O, 'Lantern']);
    const other = crl({ signer: issuing, issuerName: typo, revoked: [leaf.serial], at: AT });
    expectReason(validateCertificatePath(input([other])), 'revocation_unknown');
  });

  it('builds a path when the issuer name is written differently from the CA subject', () => {
    const { root, issuing } = pki();
    const leaf = certificate({
      subject: name([CN, 'device']),
      issuer: issuing,
      issuerName: name([CN, 'LANTERN issuing  CA', 'utf8'], [O, 'lantern']),
      at: AT,
    });
    const verdict = validateCertificatePath({
      leaf: leaf.der,
      intermediates: [issuing.der],
      trustAnchors: [root.der],
      at: AT,
    });
    expectReason(verdict, 'ok');
  });

  it('nameMatchKey folds only PrintableString and UTF8String, and keeps RDN order', () => {
    expect(nameMatchKey(name([CN, 'A  b']))).toBe(nameMatchKey(name([CN, 'a B', 'utf8'])));
    expect(nameMatchKey(name([CN, 'a'], [O, 'b']))).not.toBe(
      nameMatchKey(name([O, 'b'], [CN, 'a'])),
    );
    expect(nameMatchKey(name([CN, 'ab']))).not.toBe(nameMatchKey(name([CN, 'a b'])));
  });
});
