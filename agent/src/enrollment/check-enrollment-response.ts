import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import type { BindingPolicy, BindingResponse, ParsedCert, UncheckedClaims } from '@lantern/shared';
import {
  CertificateParseError,
  bindingPolicyOf,
  OID_EKU_CLIENT_AUTH,
  OID_EKU_LANTERN_DEVICE_BINDING,
  OID_EXT_LANTERN_OFFLINE_POLICY,
  decodeOfflinePolicy,
  parseCertificate,
  parseDeviceUri,
  validateCertificatePath,
} from '@lantern/shared';
import type { DeviceBinding } from './device-binding.js';
import { normalizeFingerprint } from './root-fingerprint.js';

/** What the agent keeps from a CA answer it has checked: what its binding row stores. */
export interface VerifiedEnrollment extends Pick<
  DeviceBinding,
  | 'deviceId'
  | 'tenantId'
  | 'certificatePem'
  | 'chainPems'
  | 'rootPem'
  | 'rootFingerprint'
  | 'policy'
> {
  /** From the certificate itself, not from the answer's JSON. */
  notAfter: Date;
  revocationCursor: number;
  /** The CA's name for itself (its tokens' \`iss\`); absent from CAs that predate it. */
  issuer?: string;
  /** The CA's public URLs as it states them; empty from CAs that predate them. */
  publicUrls: string[];
  /** Display names for the sign-in page: text from the CA, shown escaped, never trusted. */
  tenantName?: string;
  deviceName?: string;
}

export type EnrollmentRejection =
  | 'malformed_response'
  | 'root_fingerprint_mismatch'
  | 'chain_invalid'
  | 'key_mismatch'
  | 'identity_mismatch'
  | 'policy_mismatch';

export type EnrollmentVerdict =
  | { ok: true; enrollment: VerifiedEnrollment }
  | { ok: false; reason: EnrollmentRejection; detail: string };

export interface EnrollmentExpectations {
  /** The device key the CSR was made with: the certificate must certify exactly this key. */
  devicePublicKey: KeyObject;
  /** Normalized (see `normalizeFingerprint`); absent means trust on first use. */
  pinnedRootFingerprint?: string;
  /** Trusted time at which the path must be valid. */
  at: Date;
}

/**
 * The part of a `BindingResponse` the agent reads; `issuer` may be absent (CAs before it), and
 * `notAfter` and `jwks` are taken from the certificate and the signed key set instead.
 */
type EnrollAnswer = Omit<BindingResponse, 'notAfter' | 'jwks' | 'issuer'> & { issuer?: string };

const reject = (reason: EnrollmentRejection, detail: string): EnrollmentVerdict => ({
  ok: false,
  reason,
  detail,
});

/**
 * Everything the agent checks in `POST /v1/devices/enroll`'s answer before it stores a byte
 * (docs/architecture.md §2, §3): the root is the pinned one, the certificate certifies this device's key, its
 * path validates to that root under the binding profile at trusted time, and the identity and
 * offline policy the certificate states are the ones the JSON claims. The JSON is only believed
 * where the signed certificate agrees with it.
 */
export function checkEnrollmentResponse(
  body: unknown,
  expected: EnrollmentExpectations,
): EnrollmentVerdict {
  const answer = asEnrollAnswer(body);
  if (answer === null) {
    return reject('malformed_response', 'the answer lacks fields or has fields of the wrong type');
  }
  let root: ParsedCert;
  let leaf: ParsedCert;
  let chain: ParsedCert[];
  try {
    root = parseCertificate(answer.root);
    leaf = parseCertificate(answer.certificate);
    chain = answer.chain.map((pem) => parseCertificate(pem));
  } catch (error) {
    if (!(error instanceof CertificateParseError)) throw error;
    return reject('malformed_response', `a certificate does not parse: ${error.message}`);
  }

  if (expected.pinnedRootFingerprint !== undefined) {
    if (root.fingerprint !== expected.pinnedRootFingerprint) {
      return reject(
        'root_fingerprint_mismatch',
        `the CA presented root ${root.fingerprint}, but ${expected.pinnedRootFingerprint} is pinned`,
      );
    }
  }
  if (normalizeFingerprint(answer.rootFingerprint) !== root.fingerprint) {
    return reject('malformed_response', 'the stated root fingerprint is not that of the root sent');
  }

  const intermediates = chain.filter(
    (cert) => cert.fingerprint !== leaf.fingerprint && cert.fingerprint !== root.fingerprint,
  );
  const path = validateCertificatePath({
    leaf,
    intermediates,
    trustAnchors: [root],
    at: expected.at,
    requiredEku: [OID_EKU_CLIENT_AUTH, OID_EKU_LANTERN_DEVICE_BINDING],
  });
  if (!path.ok) return reject('chain_invalid', `${path.reason}: ${path.detail}`);

  if (!certifiesKey(leaf, expected.devicePublicKey)) {
    return reject('key_mismatch', 'the certificate is for another public key than this device key');
  }

  const identities = leaf.subjectAltNameUris.flatMap((uri) => parseDeviceUri(uri) ?? []);
  const [identity] = identities;
  if (
    identities.length !== 1 ||
    identity?.tenantId !== answer.tenantId ||
    identity.deviceId !== answer.deviceId
  ) {
    return reject(
      'identity_mismatch',
      `the certificate names ${leaf.subjectAltNameUris.join(', ') || 'no device'}, the answer device ${answer.deviceId} of tenant ${answer.tenantId}`,
    );
  }

  const policyFailure = offlinePolicyFailure(leaf, answer);
  if (policyFailure !== null) return reject('policy_mismatch', policyFailure);

  const pemOf = new Map(
    answer.chain.map((pem, index) => [chain[index]?.fingerprint ?? '', pem] as const),
  );
  return {
    ok: true,
    enrollment: {
      deviceId: answer.deviceId,
      tenantId: answer.tenantId,
      certificatePem: answer.certificate,
      chainPems: path.path.slice(1, -1).map((cert) => pemOf.get(cert.fingerprint) ?? ''),
      rootPem: answer.root,
      rootFingerprint: root.fingerprint,
      notAfter: leaf.notAfter,
      policy: answer.policy,
      revocationCursor: answer.revocationCursor,
      ...(answer.issuer === undefined ? {} : { issuer: answer.issuer }),
      publicUrls: answer.publicUrls,
      ...(answer.tenantName === undefined ? {} : { tenantName: answer.tenantName }),
      ...(answer.deviceName === undefined ? {} : { deviceName: answer.deviceName }),
    },
  };
}

function certifiesKey(leaf: ParsedCert, devicePublicKey: KeyObject): boolean {
  try {
    const certified = createPublicKey({
      key: Buffer.from(leaf.subjectPublicKeyInfo),
      format: 'der',
      type: 'spki',
    });
    return certified.equals(devicePublicKey);
  } catch {
    return false;
  }
}

/** The signed offline-policy extension must exist and agree with the JSON (docs/architecture.md §3.3). */
function offlinePolicyFailure(leaf: ParsedCert, answer: EnrollAnswer): string | null {
  const extension = leaf.extensions.find((entry) => entry.oid === OID_EXT_LANTERN_OFFLINE_POLICY);
  if (!extension) return 'the certificate has no Lantern offline-policy extension';
  let signed;
  try {
    signed = decodeOfflinePolicy(extension.value);
  } catch (error) {
    return `the offline-policy extension does not decode: ${(error as Error).message}`;
  }
  if (signed.tenantId !== answer.tenantId || signed.deviceId !== answer.deviceId) {
    return 'the offline-policy extension names another tenant or device';
  }
  if (signed.maxOfflineSeconds !== answer.policy.maxOfflineSeconds) {
    return `the certificate allows ${signed.maxOfflineSeconds} s offline, the answer ${answer.policy.maxOfflineSeconds} s`;
  }
  return null;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** A binding without an offline window is not one to enroll with. */
function asPolicy(value: unknown): BindingPolicy | null {
  const policy = bindingPolicyOf(value);
  return policy === undefined || policy.maxOfflineSeconds === 0 ? null : policy;
}

const MAX_NAME = 2048;
const isName = (value: unknown): value is string => isText(value) && value.length <= MAX_NAME;

function asEnrollAnswer(body: unknown): EnrollAnswer | null {
  if (!isRecord(body)) return null;
  const fields: UncheckedClaims<BindingResponse> = body;
  const { deviceId, tenantId, certificate, chain, root, rootFingerprint, revocationCursor } =
    fields;
  const policy = asPolicy(fields.policy);
  if (
    !isText(deviceId) ||
    !isText(tenantId) ||
    !isText(certificate) ||
    !Array.isArray(chain) ||
    !chain.every(isText) ||
    !isText(root) ||
    !isText(rootFingerprint) ||
    !isCount(revocationCursor) ||
    policy === null
  ) {
    return null;
  }
  const { issuer, publicUrls, tenantName, deviceName } = fields;
  if (issuer !== undefined && !isName(issuer)) return null;
  if (tenantName !== undefined && !isName(tenantName)) return null;
  if (deviceName !== undefined && !isName(deviceName)) return null;
  if (publicUrls !== undefined && !(Array.isArray(publicUrls) && publicUrls.every(isName))) {
    return null;
  }
  return {
    deviceId,
    tenantId,
    certificate,
    chain,
    root,
    rootFingerprint,
    policy,
    revocationCursor,
    ...(issuer === undefined ? {} : { issuer }),
    publicUrls: (publicUrls as string[] | undefined) ?? [],
    ...(tenantName === undefined ? {} : { tenantName }),
    ...(deviceName === undefined ? {} : { deviceName }),
  };
}
