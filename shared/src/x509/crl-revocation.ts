import { TAG, childrenOf, contextTag, readDer } from './der.js';
import { nameMatchKey } from './distinguished-name.js';
import { OID } from './oids.js';
import type { ParsedCert } from './parse-certificate.js';
import { type ParsedCrl, CRL_REASON_REMOVE_FROM_CRL } from './parse-crl.js';
import { verifySignature } from './signature.js';

/** Which certificates of a path must have a known revocation status. */
export type RevocationCheck = 'leaf' | 'chain';

export interface RevocationFinding {
  readonly reason: 'revoked' | 'revocation_unknown';
  readonly detail: string;
}

/**
 * Validates a certificate whose key signed a CRL in the name of a CA but is not the key that
 * issued the certificate being checked (RFC 5280 §6.3.3 (f)): a path to `anchor`, the trust
 * anchor of the certificate's own path. Returns why it does not validate, or undefined.
 */
export type CrlSignerPathCheck = (signer: ParsedCert, anchor: ParsedCert) => string | undefined;

type Criticality = 'non-critical' | 'either';

const UNDERSTOOD_CRL: Readonly<Record<string, Criticality>> = {
  [OID.authorityKeyIdentifier]: 'non-critical',
  [OID.crlNumber]: 'non-critical',
  [OID.deltaCrlIndicator]: 'either',
  [OID.issuingDistributionPoint]: 'either',
  [OID.freshestCrl]: 'non-critical',
  [OID.authorityInfoAccess]: 'non-critical',
};

/** certificateIssuer is absent on purpose: it only appears in indirect CRLs, which are refused. */
const UNDERSTOOD_CRL_ENTRY: Readonly<Record<string, Criticality>> = {
  [OID.crlReason]: 'non-critical',
  [OID.invalidityDate]: 'non-critical',
};

type Usability =
  | { readonly usable: true; readonly signer: ParsedCert }
  | { readonly usable: false; readonly why: string };

interface Candidate {
  readonly crl: ParsedCrl;
  readonly index: number;
  readonly issuerKey: string;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(b);

function describe(crl: ParsedCrl): string {
  const kind = crl.baseCrlNumber === undefined ? 'CRL' : `delta CRL (base ${crl.baseCrlNumber})`;
  return `${kind} number ${crl.crlNumber ?? '(none)'}`;
}

/** Defects of the CRL itself, whoever signed it and whatever it is asked about. */
function structureDefect(crl: ParsedCrl): string | undefined {
  if (!sameBytes(crl.raw.tbsSignatureAlgorithm, crl.raw.signatureAlgorithm)) {
    return 'TBS and outer signature algorithms differ';
  }
  const lists = [
    { extensions: crl.extensions, rules: UNDERSTOOD_CRL, where: 'extension' },
    ...[...crl.revoked.values()].map((entry) => ({
      extensions: entry.extensions,
      rules: UNDERSTOOD_CRL_ENTRY,
      where: 'entry extension',
    })),
  ];
  for (const { extensions, rules, where } of lists) {
    const seen = new Set<string>();
    for (const { oid, critical } of extensions) {
      if (seen.has(oid)) return `repeats ${where} ${oid}`;
      seen.add(oid);
      const rule = rules[oid];
      if (critical && rule !== 'either') return `critical ${where} ${oid} is not understood`;
    }
  }
  if (crl.crlNumber === undefined) return 'no cRLNumber (RFC 5280 §5.2.3)';
  if (crl.entryCount !== crl.revoked.size) return 'it lists a serial number twice';
  const idp = crl.issuingDistributionPoint;
  if (idp?.indirectCrl) return 'indirect CRLs are not supported';
  if (idp?.onlySomeReasons) return 'a CRL for some reasons only is not complete';
  if (idp?.nameRelativeToCrlIssuer) return 'nameRelativeToCRLIssuer is not supported';
  if (idp?.onlyContainsAttributeCerts) return 'it covers attribute certificates only';
  if (idp && idp.onlyContainsUserCerts && idp.onlyContainsCaCerts) {
    return 'it claims to cover only user and only CA certificates';
  }
  if (crl.baseCrlNumber !== undefined && crl.baseCrlNumber >= crl.crlNumber) {
    return 'its base CRL number is not below its own';
  }
  return undefined;
}

/** GeneralNames (hex DER) of the certificate's cRLDistributionPoints fullName fields. */
function distributionPointNames(cert: ParsedCert): Set<string> | undefined {
  const extension = cert.extensions.find(({ oid }) => oid === OID.crlDistributionPoints);
  if (!extension) return undefined;
  try {
    const names = new Set<string>();
    const points = childrenOf(readDer(extension.value, TAG.sequence));
    while (!points.done) {
      const point = childrenOf(points.read(TAG.sequence)).optional(contextTag(0, true));
      const name = point ? readDer(point.content) : undefined;
      if (name?.tag !== contextTag(0, true)) continue;
      const list = childrenOf(name);
      while (!list.done) names.add(hex(list.read().raw));
    }
    return names;
  } catch {
    // A distribution point the validator cannot read scopes no CRL in.
    return undefined;
  }
}

/**
 * Why the CRL's issuing distribution point puts the certificate outside its scope, or
 * undefined when the CRL covers it (RFC 5280 §6.3.3 (b)).
 */
function outOfScope(crl: ParsedCrl, cert: ParsedCert): string | undefined {
  const idp = crl.issuingDistributionPoint;
  if (!idp) return undefined;
  const ca = cert.basicConstraints?.ca === true;
  if (idp.onlyContainsUserCerts && ca) return 'it covers end-entity certificates only';
  if (idp.onlyContainsCaCerts && !ca) return 'it covers CA certificates only';
  if (idp.fullName) {
    const names = distributionPointNames(cert);
    if (!idp.fullName.some((name) => names?.has(name))) {
      return 'its distribution point is not one the certificate names';
    }
  }
  return undefined;
}

/**
 * A CRL proves what it lists whenever it was issued, but it only vouches that a certificate is
 * not revoked between its thisUpdate and nextUpdate (RFC 5280 §6.3.3 (a)).
 */
function staleness(crl: ParsedCrl, atSeconds: number): string | undefined {
  if (crl.thisUpdate.getTime() / 1000 > atSeconds) {
    return `issued after the validation time (thisUpdate ${crl.thisUpdate.toISOString()})`;
  }
  if (!crl.nextUpdate) return 'no nextUpdate, so never current';
  if (crl.nextUpdate.getTime() / 1000 < atSeconds) {
    return `stale since ${crl.nextUpdate.toISOString()} (nextUpdate)`;
  }
  return undefined;
}

function listed(crl: ParsedCrl, cert: ParsedCert): boolean {
  const entry = crl.revoked.get(cert.serialNumber);
  return entry !== undefined && entry.reason !== CRL_REASON_REMOVE_FROM_CRL;
}

/**
 * Revocation status from CRLs, failing closed: a CRL counts only once it is usable for the
 * certificate asked about (signature by the certificate's issuer or by another key of the same
 * CA whose own path validates, cRLSign, cRLNumber, every critical extension understood, issuing
 * distribution point honoured); a delta CRL only counts on top of a usable complete CRL it
 * updates; and a certificate that must have a status and has no usable complete CRL gets
 * `revocation_unknown`, never "not revoked".
 */
export class CrlRevocation {
  private readonly byIssuer = new Map<string, Candidate[]>();
  private readonly usability = new Map<string, Usability>();
  private readonly defects = new Map<number, string | undefined>();

  /**
   * `pool`: certificates that may hold another key of a CRL's issuer. `signerPath` validates
   * such a certificate; without it only CRLs signed by the certificate's own issuer count
   * (used while validating a CRL signer, so that CRL checks never recurse).
   */
  constructor(
    crls: readonly ParsedCrl[],
    private readonly atSeconds: number,
    private readonly pool: readonly ParsedCert[],
    private readonly signerPath: CrlSignerPathCheck | undefined,
  ) {
    crls.forEach((crl, index) => {
      const issuerKey = nameMatchKey(crl.raw.issuer);
      this.byIssuer.set(issuerKey, [
        ...(this.byIssuer.get(issuerKey) ?? []),
        { crl, index, issuerKey },
      ]);
    });
  }

  /**
   * The status of `cert`, issued by `issuer` on a path that ends in `anchor`: a finding when it
   * is revoked, or when `required` and no usable complete CRL covers it; undefined otherwise.
   */
  status(
    cert: ParsedCert,
    issuer: ParsedCert,
    anchor: ParsedCert,
    required: boolean,
  ): RevocationFinding | undefined {
    const refused: string[] = [];
    const complete: { crl: ParsedCrl; signer: ParsedCert }[] = [];
    const deltas: { crl: ParsedCrl; signer: ParsedCert }[] = [];
    for (const candidate of this.byIssuer.get(nameMatchKey(cert.raw.issuer)) ?? []) {
      const { crl } = candidate;
      const scope = outOfScope(crl, cert);
      if (scope) {
        refused.push(`${describe(crl)}: ${scope}`);
        continue;
      }
      const usable = this.usable(candidate, issuer, anchor);
      if (!usable.usable) {
        refused.push(`${describe(crl)}: ${usable.why}`);
        continue;
      }
      (crl.baseCrlNumber === undefined ? complete : deltas).push({ crl, signer: usable.signer });
    }
    const label = `"${cert.subject || '(empty subject)'}" serial ${cert.serialNumber}`;
    const revokedBy = (crl: ParsedCrl): RevocationFinding => {
      const date = crl.revoked.get(cert.serialNumber)?.revocationDate.toISOString();
      return { reason: 'revoked', detail: `${label} revoked at ${date} (${describe(crl)})` };
    };
    for (const { crl } of complete) if (listed(crl, cert)) return revokedBy(crl);
    // A complete CRL is current by itself, or through a current delta applied on top of it.
    const current = complete.filter((full) => {
      const stale = staleness(full.crl, this.atSeconds);
      if (stale === undefined) return true;
      const fresh = deltas.some(
        (delta) => updates(delta, full) && staleness(delta.crl, this.atSeconds) === undefined,
      );
      if (!fresh) refused.push(`${describe(full.crl)}: ${stale}`);
      return fresh;
    });
    for (const delta of deltas) {
      const base = complete.find((full) => updates(delta, full));
      if (!base) {
        refused.push(`${describe(delta.crl)}: no usable complete CRL it updates`);
        continue;
      }
      if (listed(delta.crl, cert)) return revokedBy(delta.crl);
    }
    if (!required || current.length > 0) return undefined;
    const why = refused.length > 0 ? `; refused: ${refused.join('; ')}` : '';
    return {
      reason: 'revocation_unknown',
      detail: `${label}: no usable complete CRL from "${cert.issuer}"${why}`,
    };
  }

  private usable(candidate: Candidate, issuer: ParsedCert, anchor: ParsedCert): Usability {
    const key = `${candidate.index}|${issuer.fingerprint}|${anchor.fingerprint}`;
    let result = this.usability.get(key);
    if (!result) {
      result = this.computeUsable(candidate, issuer, anchor);
      this.usability.set(key, result);
    }
    return result;
  }

  private computeUsable(candidate: Candidate, issuer: ParsedCert, anchor: ParsedCert): Usability {
    const { crl, index } = candidate;
    if (!this.defects.has(index)) this.defects.set(index, structureDefect(crl));
    const defect = this.defects.get(index);
    if (defect) return { usable: false, why: defect };
    const signer = this.signerOf(candidate, issuer, anchor);
    if (!signer.usable) return signer;
    if (signer.signer.keyUsage && !signer.signer.keyUsage.has('cRLSign')) {
      return { usable: false, why: "its signer's keyUsage lacks cRLSign" };
    }
    return signer;
  }

  /** The certificate whose key signed the CRL: the issuer itself, or another key of that CA. */
  private signerOf(candidate: Candidate, issuer: ParsedCert, anchor: ParsedCert): Usability {
    const { crl } = candidate;
    const signedBy = (cert: ParsedCert) =>
      verifySignature(
        crl.raw.signatureAlgorithm,
        cert.subjectPublicKeyInfo,
        crl.raw.tbs,
        crl.raw.signature,
      );
    const keyId = crl.authorityKeyIdentifier;
    const namesIssuerKey =
      keyId === undefined ||
      issuer.subjectKeyIdentifier === undefined ||
      keyId === issuer.subjectKeyIdentifier;
    if (namesIssuerKey) {
      const check = signedBy(issuer);
      if (check === 'valid') return { usable: true, signer: issuer };
      if (check === 'unsupported')
        return { usable: false, why: 'signature algorithm not supported' };
      if (keyId !== undefined && issuer.subjectKeyIdentifier !== undefined) {
        return { usable: false, why: 'signature invalid' };
      }
    }
    if (!this.signerPath) {
      return {
        usable: false,
        why: 'signed by another key of its issuer (not followed for a CRL signer)',
      };
    }
    const others = this.pool.filter(
      (cert) =>
        cert.fingerprint !== issuer.fingerprint &&
        nameMatchKey(cert.raw.subject) === candidate.issuerKey &&
        (keyId === undefined || cert.subjectKeyIdentifier === keyId) &&
        signedBy(cert) === 'valid',
    );
    if (others.length === 0) {
      return {
        usable: false,
        why: 'signed by a key for which no certificate of its issuer was supplied',
      };
    }
    const reasons: string[] = [];
    for (const other of others) {
      if (other.keyUsage && !other.keyUsage.has('cRLSign')) {
        reasons.push(`signer serial ${other.serialNumber}: keyUsage lacks cRLSign`);
        continue;
      }
      const failure =
        other.fingerprint === anchor.fingerprint ? undefined : this.signerPath(other, anchor);
      if (failure === undefined) return { usable: true, signer: other };
      reasons.push(`signer serial ${other.serialNumber}: ${failure}`);
    }
    return { usable: false, why: reasons.join('; ') };
  }
}

/**
 * RFC 5280 §5.2.4: a delta CRL completes a complete CRL of the same scope, signed by the same
 * key, whose number is at least the delta's base and below the delta's own number.
 */
function updates(
  delta: { crl: ParsedCrl; signer: ParsedCert },
  full: { crl: ParsedCrl; signer: ParsedCert },
): boolean {
  const base = delta.crl.baseCrlNumber;
  const number = full.crl.crlNumber;
  const deltaNumber = delta.crl.crlNumber;
  if (base === undefined || number === undefined || deltaNumber === undefined) return false;
  const deltaScope = delta.crl.issuingDistributionPoint?.der;
  const fullScope = full.crl.issuingDistributionPoint?.der;
  const sameScope =
    deltaScope === undefined || fullScope === undefined
      ? deltaScope === fullScope
      : sameBytes(deltaScope, fullScope);
  return (
    sameScope &&
    delta.signer.fingerprint === full.signer.fingerprint &&
    number >= base &&
    number < deltaNumber
  );
}
