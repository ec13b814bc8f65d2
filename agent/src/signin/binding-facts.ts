import type { ParsedCert } from '@lantern/shared';
import {
  OID_EXT_LANTERN_OFFLINE_POLICY,
  decodeOfflinePolicy,
  deviceUri,
  parseCertificate,
} from '@lantern/shared';
import type { DeviceBinding } from '../enrollment/device-binding.js';
import type { AgentStore } from '../store/agent-store.js';
import { statement } from '../store/statements.js';

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

/** The binding columns the facts are derived from, as stored (the chain as its JSON text). */
interface FactsSource {
  deviceId: string;
  tenantId: string;
  caUrl: string;
  issuer: string;
  certificatePem: string;
  chainPemsJson: string;
  rootPem: string;
}

const memo: { source: FactsSource; facts: BindingFacts }[] = [];
const MEMO_LIMIT = 4;

/** Parsed once per binding certificate: a sign-in would otherwise parse three certificates. */
export function bindingFacts(binding: DeviceBinding): BindingFacts {
  return factsOf({
    deviceId: binding.deviceId,
    tenantId: binding.tenantId,
    caUrl: binding.caUrl,
    issuer: binding.issuer,
    certificatePem: binding.certificatePem,
    chainPemsJson: JSON.stringify(binding.chainPems),
    rootPem: binding.rootPem,
  });
}

/**
 * The facts of the stored binding, or null before enrollment. Read at every offline sign-in:
 * only the columns the facts come from, compared as stored with the last ones seen, so the
 * certificates are parsed again only when a column changed (renewal, another process's write).
 */
export function readBindingFacts(store: AgentStore): BindingFacts | null {
  const row = statement<[], Omit<FactsSource, 'issuer'> & { issuer: string | null }>(
    store.db,
    `SELECT device_id AS deviceId, tenant_id AS tenantId, ca_url AS caUrl, issuer,
            certificate_pem AS certificatePem, chain_pems_json AS chainPemsJson, root_pem AS rootPem
       FROM binding WHERE id = 1`,
  ).get();
  if (!row) return null;
  // As `readDeviceBinding`: stores enrolled before the issuer was kept name the enrollment URL.
  return factsOf({ ...row, issuer: row.issuer ?? row.caUrl });
}

function factsOf(source: FactsSource): BindingFacts {
  const known = memo.find((entry) => sameSource(entry.source, source));
  if (known) return known.facts;
  const leaf = parseCertificate(source.certificatePem);
  const chain = (JSON.parse(source.chainPemsJson) as string[]).map((pem) => parseCertificate(pem));
  const path = [leaf, ...chain, parseCertificate(source.rootPem)];
  const facts: BindingFacts = {
    deviceId: source.deviceId,
    tenantId: source.tenantId,
    caUrl: source.caUrl,
    issuer: source.issuer,
    deviceUri: deviceUri(source.tenantId, source.deviceId),
    // Frozen: the facts are shared, and `mintSessionToken` keeps the header of a frozen chain.
    x5c: Object.freeze([leaf, ...chain].map((cert) => Buffer.from(cert.der).toString('base64'))),
    validFromMs: Math.max(...path.map((cert) => cert.notBefore.getTime())),
    validUntilMs: Math.min(...path.map((cert) => cert.notAfter.getTime())),
    maxOfflineSeconds: maxOfflineSecondsOf(leaf),
    certificateSerial: leaf.serialNumber,
  };
  if (memo.length >= MEMO_LIMIT) memo.length = 0;
  memo.push({ source: { ...source }, facts });
  return facts;
}

function sameSource(a: FactsSource, b: FactsSource): boolean {
  return (
    a.certificatePem === b.certificatePem &&
    a.chainPemsJson === b.chainPemsJson &&
    a.rootPem === b.rootPem &&
    a.issuer === b.issuer &&
    a.caUrl === b.caUrl &&
    a.deviceId === b.deviceId &&
    a.tenantId === b.tenantId
  );
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
