import type { ParsedCert } from '@lantern/shared';
import {
  OID_EXT_LANTERN_OFFLINE_POLICY,
  decodeOfflinePolicy,
  deviceUri,
  parseCertificate,
} from '@lantern/shared';
import type { DeviceBinding } from '../enrollment/device-binding.js';

/** What sign-in and token minting read from the binding, derived from its certificates. */
export interface BindingFacts {
  deviceId: string;
  tenantId: string;
  caUrl: string;
  /** The CA's name for itself: the issuer its access tokens and grants must carry. */
  issuer: string;
  /** `urn:lantern:device:<tenant>:<device>`, the issuer of this device's session tokens. */
  deviceUri: string;
  /** base64 DER, binding certificate first, then the issuing CA (device proofs, session tokens). */
  x5c: readonly string[];
  /** The window in which every certificate of the path, root included, is valid (epoch ms). */
  validFromMs: number;
  validUntilMs: number;
  /** From the signed offline-policy extension, not from the editable `policy_json` column. */
  maxOfflineSeconds: number;
  certificateSerial: string;
}

const memo = new Map<string, BindingFacts>();
const MEMO_LIMIT = 4;

/** Parsed once per binding certificate: a sign-in would otherwise parse three certificates. */
export function bindingFacts(binding: DeviceBinding): BindingFacts {
  const key = `${binding.issuer}\n${binding.caUrl}\n${binding.certificatePem}\n${binding.chainPems.join('\n')}\n${binding.rootPem}`;
  const known = memo.get(key);
  if (known) return known;
  const leaf = parseCertificate(binding.certificatePem);
  const chain = binding.chainPems.map((pem) => parseCertificate(pem));
  const path = [leaf, ...chain, parseCertificate(binding.rootPem)];
  const facts: BindingFacts = {
    deviceId: binding.deviceId,
    tenantId: binding.tenantId,
    caUrl: binding.caUrl,
    issuer: binding.issuer,
    deviceUri: deviceUri(binding.tenantId, binding.deviceId),
    x5c: [leaf, ...chain].map((cert) => Buffer.from(cert.der).toString('base64')),
    validFromMs: Math.max(...path.map((cert) => cert.notBefore.getTime())),
    validUntilMs: Math.min(...path.map((cert) => cert.notAfter.getTime())),
    maxOfflineSeconds: maxOfflineSecondsOf(leaf),
    certificateSerial: leaf.serialNumber,
  };
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(key, facts);
  return facts;
}

/** Enrollment refused certificates without the extension; a store edited since gets no window. */
function maxOfflineSecondsOf(leaf: ParsedCert): number {
  const extension = leaf.extensions.find((entry) => entry.oid === OID_EXT_LANTERN_OFFLINE_POLICY);
  if (!extension) return 0;
  try {
    return decodeOfflinePolicy(extension.value).maxOfflineSeconds;
  } catch {
    return 0;
  }
}
