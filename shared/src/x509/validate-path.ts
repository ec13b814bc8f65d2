import { type RevocationCheck, CrlRevocation } from './crl-revocation.js';
import { nameMatchKey } from './distinguished-name.js';
import { OID } from './oids.js';
import { type ParsedCert, CertificateParseError, parseCertificate } from './parse-certificate.js';
import { type ParsedCrl, CrlParseError, parseCrl } from './parse-crl.js';
import { OID_EKU_ANY } from './profile.js';
import { verifySignature } from './signature.js';

/** DER bytes, PEM text (string or bytes), or a certificate parsed once and reused. */
export type CertificateInput = Uint8Array | string | ParsedCert;

export interface PathValidationInput {
  readonly leaf: CertificateInput;
  /** Untrusted certificates the path may use, in any order; unused ones are never evaluated. */
  readonly intermediates?: readonly CertificateInput[];
  readonly trustAnchors: readonly CertificateInput[];
  /** Validity is compared at whole-second precision (RFC 5280 times have no fractions). */
  readonly at: Date;
  /**
   * EKU OIDs the leaf must carry, every one of them (a leaf without the extension, or with only
   * anyExtendedKeyUsage, does not qualify). A CA on the path that carries the extension must
   * list each of them too, or anyExtendedKeyUsage.
   */
  readonly requiredEku?: readonly string[];
  /**
   * CRLs to consult (docs/security.md, "CRL rules"). A CRL counts for a certificate only when
   * it is usable: issued in the name of the certificate's issuer (RFC 5280 §7.1 matching),
   * signed by the issuer's key or by another key of that CA whose certificate validates to the
   * same anchor and is not revoked, cRLSign, cRLNumber, no critical extension it does not
   * understand, no serial listed twice, and the certificate inside its issuing distribution
   * point. A delta CRL counts only on top of a usable complete CRL it updates. Listed on a
   * usable CRL means revoked, whatever the revocation date and however old the CRL; only a
   * complete CRL current at `at` (thisUpdate <= at <= nextUpdate) says "not revoked".
   */
  readonly crls?: readonly (Uint8Array | string)[];
  /**
   * Asks for revocation checking: 'chain', every certificate below the anchor, or 'leaf', the
   * leaf only (a usable CRL that lists an intermediate still refuses it), must be covered by a
   * usable complete CRL; one that is not gives `revocation_unknown`. Default: 'chain' when
   * `crls` has entries, no checking otherwise.
   */
  readonly revocationCheck?: RevocationCheck;
  /** Most non-self-issued intermediates allowed between leaf and anchor (default 8). */
  readonly maxDepth?: number;
  /** Extra revocation source (e.g. the agent's revocation feed), asked for every non-anchor. */
  readonly isRevoked?: (cert: ParsedCert) => boolean;
}

export type PathFailureReason =
  | 'malformed'
  | 'unsupported_algorithm'
  | 'signature_algorithm_mismatch'
  | 'serial_invalid'
  | 'name_invalid'
  | 'extension_invalid'
  | 'unknown_critical_extension'
  | 'not_yet_valid'
  | 'expired'
  | 'not_a_ca'
  | 'path_length_exceeded'
  | 'key_usage'
  | 'wrong_eku'
  | 'bad_signature'
  | 'no_path'
  | 'depth_exceeded'
  | 'revoked'
  | 'revocation_unknown';

export type PathVerdict =
  | { readonly ok: true; readonly path: readonly ParsedCert[] }
  | { readonly ok: false; readonly reason: PathFailureReason; readonly detail: string };

interface Failure {
  readonly ok: false;
  readonly reason: PathFailureReason;
  readonly detail: string;
}

export const DEFAULT_MAX_DEPTH = 8;
/** Self-issued certificates do not count towards maxDepth, so the path needs its own cap. */
const MAX_INTERMEDIATES = 32;
/**
 * Issuer candidates examined per validation; Go stops at 100 signature checks for the same
 * reason: adversarial pools of look-alike CAs must not turn path building exponential.
 */
const SEARCH_BUDGET = 256;

const fail = (reason: PathFailureReason, detail: string): Failure => ({
  ok: false,
  reason,
  detail,
});

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(b);
/** An empty Name encodes as an empty SEQUENCE. */
const isEmptyName = (name: Uint8Array): boolean => name.length === 2;

function label(cert: ParsedCert): string {
  const subject = cert.subject.length > 96 ? `${cert.subject.slice(0, 93)}...` : cert.subject;
  return `"${subject || '(empty subject)'}" serial ${cert.serialNumber}`;
}

type Criticality = 'non-critical' | 'either';

/** Extensions this validator acts on or may safely ignore the content of. */
const UNDERSTOOD: Readonly<Record<string, Criticality>> = {
  [OID.basicConstraints]: 'either',
  [OID.keyUsage]: 'either',
  [OID.extKeyUsage]: 'either',
  [OID.subjectAltName]: 'either',
  [OID.subjectKeyIdentifier]: 'non-critical',
  [OID.authorityKeyIdentifier]: 'non-critical',
  [OID.authorityInfoAccess]: 'non-critical',
};

/**
 * Constraints RFC 5280 requires to be critical and that this validator does not enforce: a
 * critical one is refused as unsupported (never silently ignored), a non-critical one is
 * malformed.
 */
const UNENFORCED_CONSTRAINTS = new Set<string>([
  OID.nameConstraints,
  OID.policyConstraints,
  OID.inhibitAnyPolicy,
]);

function extensionsFailure(cert: ParsedCert): Failure | undefined {
  const seen = new Set<string>();
  for (const { oid, critical } of cert.extensions) {
    if (seen.has(oid)) return fail('extension_invalid', `${label(cert)} repeats extension ${oid}`);
    seen.add(oid);
    const rule = UNDERSTOOD[oid];
    if (rule === 'non-critical' && critical) {
      return fail('extension_invalid', `${label(cert)} marks extension ${oid} critical`);
    }
    if (UNENFORCED_CONSTRAINTS.has(oid)) {
      return critical
        ? fail('unknown_critical_extension', `${label(cert)}: ${oid} is not supported`)
        : fail('extension_invalid', `${label(cert)} must mark extension ${oid} critical`);
    }
    if (!rule && critical) {
      return fail('unknown_critical_extension', `${label(cert)} has critical extension ${oid}`);
    }
  }
  return undefined;
}

function serialFailure(cert: ParsedCert): Failure | undefined {
  const serial = cert.raw.serial;
  if ((serial[0] ?? 0) & 0x80) return fail('serial_invalid', `${label(cert)}: negative serial`);
  const magnitude = serial[0] === 0 && serial.length > 1 ? serial.subarray(1) : serial;
  if (magnitude.length > 20) return fail('serial_invalid', `${label(cert)}: serial over 20 octets`);
  if (magnitude.every((byte) => byte === 0)) return fail('serial_invalid', `${label(cert)}: zero`);
  return undefined;
}

function validityFailure(cert: ParsedCert, atSeconds: number): Failure | undefined {
  if (atSeconds < cert.notBefore.getTime() / 1000) {
    return fail('not_yet_valid', `${label(cert)} is valid from ${cert.notBefore.toISOString()}`);
  }
  if (atSeconds > cert.notAfter.getTime() / 1000) {
    return fail('expired', `${label(cert)} expired at ${cert.notAfter.toISOString()}`);
  }
  return undefined;
}

/**
 * RFC 5280 "self-signed", which exempts a certificate from carrying an AKI: its own key verifies
 * its signature (the names are not consulted). A signature this module will not check (legacy
 * algorithm, weak key) is not held against it here; that key is judged when it signs a child.
 */
function mayOmitAki(cert: ParsedCert): boolean {
  return (
    verifySignature(
      cert.raw.signatureAlgorithm,
      cert.subjectPublicKeyInfo,
      cert.raw.tbs,
      cert.raw.signature,
    ) !== 'invalid'
  );
}

/** Profile rules for every certificate on a path, anchors included. */
function certificateFailure(cert: ParsedCert, atSeconds: number): Failure | undefined {
  const ca = cert.basicConstraints?.ca === true;
  const usage = cert.keyUsage;
  const has = (oid: string) => cert.extensions.find((extension) => extension.oid === oid);
  const akiPresent = has(OID.authorityKeyIdentifier) !== undefined;
  if (!sameBytes(cert.raw.tbsSignatureAlgorithm, cert.raw.signatureAlgorithm)) {
    return fail('signature_algorithm_mismatch', `${label(cert)}: TBS and outer algorithms differ`);
  }
  const early = serialFailure(cert);
  if (early) return early;
  if (isEmptyName(cert.raw.issuer)) return fail('name_invalid', `${label(cert)}: empty issuer`);
  const extensions = extensionsFailure(cert);
  if (extensions) return extensions;
  if (isEmptyName(cert.raw.subject) && !has(OID.subjectAltName)?.critical) {
    return fail('extension_invalid', `${label(cert)}: empty subject needs a critical SAN`);
  }
  if (ca && cert.subjectKeyIdentifier === undefined) {
    return fail('extension_invalid', `${label(cert)}: CA certificate without SKI`);
  }
  if (usage?.size === 0) return fail('extension_invalid', `${label(cert)}: empty keyUsage`);
  if (usage?.has('keyCertSign') && !ca) {
    return fail('key_usage', `${label(cert)}: keyCertSign without basicConstraints cA`);
  }
  if (ca && usage && !usage.has('keyCertSign')) {
    return fail('key_usage', `${label(cert)}: CA certificate whose keyUsage lacks keyCertSign`);
  }
  if (cert.basicConstraints?.pathLenConstraint !== undefined && !ca) {
    return fail('extension_invalid', `${label(cert)}: pathLenConstraint without cA`);
  }
  if (akiPresent && cert.authorityKeyIdentifier === undefined) {
    return fail('extension_invalid', `${label(cert)}: AKI without keyIdentifier`);
  }
  const validity = validityFailure(cert, atSeconds);
  if (validity) return validity;
  if (!akiPresent && !mayOmitAki(cert)) {
    return fail('extension_invalid', `${label(cert)}: no AKI and not self-signed`);
  }
  return undefined;
}

function ekuFailure(
  cert: ParsedCert,
  required: readonly string[],
  anyAllowed: boolean,
): Failure | undefined {
  const eku = cert.extendedKeyUsage;
  if (required.length === 0) return undefined;
  if (!eku) {
    return anyAllowed
      ? undefined
      : fail('wrong_eku', `${label(cert)} has no extendedKeyUsage; need ${required.join(', ')}`);
  }
  if (anyAllowed && eku.includes(OID_EKU_ANY)) return undefined;
  const missing = required.filter((oid) => !eku.includes(oid));
  return missing.length === 0
    ? undefined
    : fail('wrong_eku', `${label(cert)} lacks extendedKeyUsage ${missing.join(', ')}`);
}

/** Rules for a certificate whose key verifies the next one down the path. */
function issuerFailure(
  cert: ParsedCert,
  atSeconds: number,
  requiredEku: readonly string[],
): Failure | undefined {
  const bc = cert.extensions.find((extension) => extension.oid === OID.basicConstraints);
  if (cert.basicConstraints?.ca !== true) {
    return fail('not_a_ca', `${label(cert)} is not a CA (basicConstraints cA not asserted)`);
  }
  return (
    certificateFailure(cert, atSeconds) ??
    (isEmptyName(cert.raw.subject)
      ? fail('name_invalid', `${label(cert)}: CA with an empty subject`)
      : undefined) ??
    (!bc?.critical
      ? fail('extension_invalid', `${label(cert)}: CA basicConstraints must be critical`)
      : undefined) ??
    ekuFailure(cert, requiredEku, true)
  );
}

interface Node {
  readonly id: number;
  readonly cert: ParsedCert;
  readonly anchor: boolean;
  /** RFC 5280 §7.1 match keys of the subject and issuer names (`nameMatchKey`). */
  readonly subjectKey: string;
  readonly issuerKey: string;
  /** Subject and key: a path never holds the same pair twice (RFC 4158 loop detection). */
  readonly identity: string;
  readonly selfIssued: boolean;
}

function toNode(cert: ParsedCert, id: number, anchor: boolean): Node {
  const subjectKey = nameMatchKey(cert.raw.subject);
  const issuerKey = nameMatchKey(cert.raw.issuer);
  return {
    id,
    cert,
    anchor,
    subjectKey,
    issuerKey,
    identity: `${subjectKey}/${hex(cert.subjectPublicKeyInfo)}`,
    selfIssued: subjectKey === issuerKey,
  };
}

interface Parsed {
  readonly ok: true;
  readonly leaf: ParsedCert;
  readonly anchors: readonly ParsedCert[];
  readonly intermediates: readonly ParsedCert[];
  readonly crls: readonly ParsedCrl[];
}

function parseInputs(input: PathValidationInput): Parsed | Failure {
  const cert = (value: CertificateInput, what: string): ParsedCert => {
    if (typeof value === 'object' && !(value instanceof Uint8Array)) return value;
    try {
      return parseCertificate(value);
    } catch (error) {
      if (error instanceof CertificateParseError) {
        throw new CertificateParseError(`${what}: ${error.message}`);
      }
      throw error;
    }
  };
  try {
    return {
      ok: true,
      leaf: cert(input.leaf, 'leaf'),
      anchors: input.trustAnchors.map((value, i) => cert(value, `trust anchor ${i}`)),
      intermediates: (input.intermediates ?? []).map((value, i) =>
        cert(value, `intermediate ${i}`),
      ),
      crls: (input.crls ?? []).map((value) => parseCrl(value)),
    };
  } catch (error) {
    if (error instanceof CertificateParseError || error instanceof CrlParseError) {
      return fail('malformed', error.message);
    }
    throw error;
  }
}

/**
 * Depth-first path building from the leaf up to a trust anchor, validating each edge as it is
 * added and backtracking on failure. Everything that does not depend on the rest of the path
 * (a CA's own profile, a signature, a revocation lookup) is computed once per certificate or
 * per issuer/subject pair.
 */
class PathSearch {
  private readonly index = new Map<string, Node[]>();
  private readonly issuerChecks = new Map<number, Failure | undefined>();
  private readonly edgeChecks = new Map<string, Failure | undefined>();
  private readonly statusChecks = new Map<string, Failure | undefined>();
  private best: { failure: Failure; position: number } | undefined;
  private budget = SEARCH_BUDGET;

  /**
   * `revocation` undefined: no CRL to consult. `check` undefined: CRLs are consulted but no
   * certificate needs a known status (the path of a CRL signer).
   */
  constructor(
    candidates: readonly Node[],
    private readonly revocation: CrlRevocation | undefined,
    private readonly check: RevocationCheck | undefined,
    private readonly atSeconds: number,
    private readonly requiredEku: readonly string[],
    private readonly maxDepth: number,
    private readonly isRevoked: ((cert: ParsedCert) => boolean) | undefined,
  ) {
    for (const node of candidates) {
      this.index.set(node.subjectKey, [...(this.index.get(node.subjectKey) ?? []), node]);
    }
  }

  run(leaf: Node): PathVerdict {
    const found = this.extend([leaf], new Set([leaf.identity]), 0);
    if (found) return { ok: true, path: found.map((node) => node.cert) };
    if (this.budget < 0) {
      return fail('depth_exceeded', `gave up after ${SEARCH_BUDGET} issuer candidates`);
    }
    return this.best?.failure ?? fail('no_path', `no issuer found for ${label(leaf.cert)}`);
  }

  /** The failure met deepest in the search is the most specific one to report. */
  private record(failure: Failure, position: number): void {
    if (!this.best || position > this.best.position) this.best = { failure, position };
  }

  private extend(path: Node[], onPath: Set<string>, counted: number): Node[] | undefined {
    const child = path[path.length - 1];
    if (!child) return undefined;
    const position = path.length;
    const candidates = (this.index.get(child.issuerKey) ?? []).filter(
      (node) => !onPath.has(node.identity) && keyIdsAgree(child.cert, node.cert),
    );
    if (candidates.length === 0) {
      this.record(
        fail('no_path', `no trusted or supplied issuer for ${label(child.cert)}`),
        position,
      );
      return undefined;
    }
    for (const candidate of candidates) {
      if (--this.budget < 0) return undefined;
      const failure = this.candidateFailure(child, candidate, position, counted);
      if (failure) {
        this.record(failure, position);
        continue;
      }
      if (candidate.anchor) {
        const complete = [...path, candidate];
        const revoked = this.revocationFailure(complete);
        if (!revoked) return complete;
        this.record(revoked, position + 1);
        continue;
      }
      path.push(candidate);
      onPath.add(candidate.identity);
      const found = this.extend(path, onPath, counted + (candidate.selfIssued ? 0 : 1));
      onPath.delete(candidate.identity);
      path.pop();
      if (found || this.budget < 0) return found;
    }
    return undefined;
  }

  /** `counted`: non-self-issued intermediates between the leaf and the candidate. */
  private candidateFailure(
    child: Node,
    candidate: Node,
    position: number,
    counted: number,
  ): Failure | undefined {
    const { cert } = candidate;
    if (!candidate.anchor) {
      if (position > MAX_INTERMEDIATES) {
        return fail('depth_exceeded', `more than ${MAX_INTERMEDIATES} intermediates`);
      }
      if (!candidate.selfIssued && counted + 1 > this.maxDepth) {
        return fail('depth_exceeded', `more than ${this.maxDepth} intermediates (maxDepth)`);
      }
    }
    if (!this.issuerChecks.has(candidate.id)) {
      this.issuerChecks.set(candidate.id, issuerFailure(cert, this.atSeconds, this.requiredEku));
    }
    const pathLen = cert.basicConstraints?.pathLenConstraint;
    return (
      this.issuerChecks.get(candidate.id) ??
      (pathLen !== undefined && counted > pathLen
        ? fail('path_length_exceeded', `${label(cert)} allows ${pathLen} intermediates below it`)
        : undefined) ??
      this.edgeFailure(child, candidate)
    );
  }

  private edgeFailure(child: Node, issuer: Node): Failure | undefined {
    const key = `${child.id}:${issuer.id}`;
    if (!this.edgeChecks.has(key)) this.edgeChecks.set(key, this.computeEdge(child, issuer));
    return this.edgeChecks.get(key);
  }

  private computeEdge(child: Node, issuer: Node): Failure | undefined {
    const { cert } = child;
    const signature = verifySignature(
      cert.raw.signatureAlgorithm,
      issuer.cert.subjectPublicKeyInfo,
      cert.raw.tbs,
      cert.raw.signature,
    );
    if (signature === 'unsupported') {
      return fail('unsupported_algorithm', `${label(cert)}: signature algorithm or issuer key`);
    }
    if (signature === 'invalid') {
      return fail('bad_signature', `${label(cert)} is not signed by ${label(issuer.cert)}`);
    }
    if (this.isRevoked?.(cert)) return fail('revoked', `${label(cert)} is revoked`);
    return undefined;
  }

  /**
   * CRL status of every certificate of a complete path but its anchor. Needs the whole path:
   * a CRL signed by another key of a CA must validate to the same anchor (RFC 5280 §6.3.3 (f)).
   * A revoked certificate is reported before an unknown one.
   */
  private revocationFailure(path: readonly Node[]): Failure | undefined {
    const { revocation } = this;
    const anchor = path[path.length - 1];
    if (!revocation || !anchor) return undefined;
    let unknown: Failure | undefined;
    for (let i = 0; i < path.length - 1; i++) {
      const node = path[i] as Node;
      const issuer = path[i + 1] as Node;
      const required = this.check === 'chain' || (this.check === 'leaf' && i === 0);
      const key = `${node.id}:${issuer.id}:${anchor.id}:${required}`;
      if (!this.statusChecks.has(key)) {
        const finding = revocation.status(node.cert, issuer.cert, anchor.cert, required);
        this.statusChecks.set(key, finding && fail(finding.reason, finding.detail));
      }
      const failure = this.statusChecks.get(key);
      if (failure?.reason === 'revoked') return failure;
      unknown ??= failure;
    }
    return unknown;
  }
}

/** An AKI that names a key rules out issuers whose SKI names another one. */
function keyIdsAgree(child: ParsedCert, issuer: ParsedCert): boolean {
  const wanted = child.authorityKeyIdentifier;
  const offered = issuer.subjectKeyIdentifier;
  return wanted === undefined || offered === undefined || wanted === offered;
}

/**
 * RFC 5280 path validation under a strict profile, with path building. Never throws for bad
 * certificates or CRLs: anything that does not parse as strict DER is the verdict `malformed`.
 * It throws TypeError only for a caller bug (invalid `at` or `maxDepth`), and lets an exception
 * from `isRevoked` propagate.
 *
 * Beyond RFC 5280 section 6 it enforces the profile MUSTs the vectors in
 * shared/vectors/x509-limbo-device.json pin down (serials, AKI/SKI, criticality, empty names,
 * keyUsage/basicConstraints consistency) on every certificate of the path, trust anchor
 * included: an anchor is a pinned certificate, not just a name and key. Name constraints and
 * policy constraints are not implemented, so a certificate carrying them is refused.
 */
export function validateCertificatePath(input: PathValidationInput): PathVerdict {
  const atMs = input.at.getTime();
  if (!Number.isFinite(atMs)) throw new TypeError('validateCertificatePath: invalid `at`');
  const maxDepth = input.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 0) {
    throw new TypeError('validateCertificatePath: maxDepth must be a non-negative integer');
  }
  const parsed = parseInputs(input);
  if (!parsed.ok) return parsed;
  const atSeconds = Math.floor(atMs / 1000);
  const requiredEku = input.requiredEku ?? [];

  const { leaf } = parsed;
  const leafFailure = certificateFailure(leaf, atSeconds) ?? ekuFailure(leaf, requiredEku, false);
  if (leafFailure) return leafFailure;
  if (parsed.anchors.some((anchor) => anchor.fingerprint === leaf.fingerprint)) {
    return { ok: true, path: [leaf] };
  }

  const seen = new Set<string>([leaf.fingerprint]);
  const nodes: Node[] = [];
  const add = (cert: ParsedCert, anchor: boolean): void => {
    if (seen.has(cert.fingerprint)) return;
    seen.add(cert.fingerprint);
    nodes.push(toNode(cert, nodes.length + 1, anchor));
  };
  parsed.anchors.forEach((cert) => add(cert, true));
  parsed.intermediates.forEach((cert) => add(cert, false));

  const check = input.revocationCheck ?? (parsed.crls.length > 0 ? 'chain' : undefined);
  const revocation =
    check === undefined && parsed.crls.length === 0
      ? undefined
      : crlRevocation(parsed.crls, nodes, atSeconds, maxDepth, input.isRevoked);
  const search = new PathSearch(
    nodes,
    revocation,
    check,
    atSeconds,
    requiredEku,
    maxDepth,
    input.isRevoked,
  );
  return search.run(toNode(leaf, 0, false));
}

/**
 * The CRL checker of a validation. A CRL signed by another key of a CA is only used once that
 * key's certificate validates to the same anchor (its profile, cRLSign checked by the checker,
 * a path, and no usable CRL listing any certificate of that path); that inner validation
 * follows no further delegated CRL signers, so CRL checks never recurse.
 */
function crlRevocation(
  crls: readonly ParsedCrl[],
  nodes: readonly Node[],
  atSeconds: number,
  maxDepth: number,
  isRevoked: PathValidationInput['isRevoked'],
): CrlRevocation {
  const pool = nodes.map((node) => node.cert);
  const inner = new CrlRevocation(crls, atSeconds, pool, undefined);
  return new CrlRevocation(crls, atSeconds, pool, (signer, anchor) => {
    const failure = certificateFailure(signer, atSeconds);
    if (failure) return `${failure.reason}: ${failure.detail}`;
    const candidates = nodes.filter((node) => !node.anchor || node.cert === anchor);
    const search = new PathSearch(candidates, inner, undefined, atSeconds, [], maxDepth, isRevoked);
    const verdict = search.run(toNode(signer, 0, false));
    return verdict.ok ? undefined : `${verdict.reason}: ${verdict.detail}`;
  });
}
