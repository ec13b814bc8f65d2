import type { BindingPolicy } from '@lantern/shared';
import type { AgentStore } from '../store/agent-store.js';
import { statement } from '../store/statements.js';

/** The `binding` row: this device's identity and the root it pinned. */
export interface DeviceBinding {
  deviceId: string;
  tenantId: string;
  certificatePem: string;
  /** Issuing CA first, root excluded. */
  chainPems: string[];
  rootPem: string;
  /** Lower-case hex SHA-256 of the root DER. */
  rootFingerprint: string;
  /** Where this device reaches the CA: the URL it enrolled through. */
  caUrl: string;
  /**
   * The CA's name for itself, the \`iss\` of its tokens, as the CA stated it (enrollment answer,
   * signed sync answers); the enrollment URL only for stores enrolled before it was kept.
   */
  issuer: string;
  /** The CA's public URLs as it stated them; empty until it has. */
  caPublicUrls: string[];
  /** The school's and this device's names as the CA gave them; null in stores from before. */
  tenantName: string | null;
  deviceName: string | null;
  policy: BindingPolicy;
  enrolledAt: number;
  updatedAt: number;
}

interface BindingRow {
  deviceId: string;
  tenantId: string;
  certificatePem: string;
  chainPemsJson: string;
  rootPem: string;
  rootFingerprint: string;
  caUrl: string;
  issuer: string | null;
  caPublicUrlsJson: string | null;
  tenantName: string | null;
  deviceName: string | null;
  policyJson: string;
  enrolledAt: number;
  updatedAt: number;
}

/** The policy the CA states now (sync answers); a row that already holds it is left alone. */
export function updateBindingPolicy(store: AgentStore, policy: BindingPolicy, at: number): void {
  const json = JSON.stringify(policy);
  store.db
    .prepare<[string, number, string]>(
      'UPDATE binding SET policy_json = ?, updated_at = ? WHERE id = 1 AND policy_json <> ?',
    )
    .run(json, at, json);
}

/** What the CA signed about itself: its name (`iss`) and its public URLs, each when it says. */
export function recordCaIdentity(
  store: AgentStore,
  identity: { issuer?: string; publicUrls?: readonly string[] },
): void {
  if (identity.issuer !== undefined) {
    store.db
      .prepare<[string, string]>('UPDATE binding SET issuer = ? WHERE id = 1 AND issuer IS NOT ?')
      .run(identity.issuer, identity.issuer);
  }
  if (identity.publicUrls !== undefined) {
    const urls = JSON.stringify(identity.publicUrls);
    store.db
      .prepare<[string, string]>(
        'UPDATE binding SET ca_public_urls_json = ? WHERE id = 1 AND ca_public_urls_json IS NOT ?',
      )
      .run(urls, urls);
  }
}

/** The binding, or null before enrollment. */
export function readDeviceBinding(store: AgentStore): DeviceBinding | null {
  const row = statement<[], BindingRow>(
    store.db,
    `SELECT device_id AS deviceId, tenant_id AS tenantId, certificate_pem AS certificatePem,
              chain_pems_json AS chainPemsJson, root_pem AS rootPem,
              root_fingerprint AS rootFingerprint, ca_url AS caUrl, issuer, ca_public_urls_json AS caPublicUrlsJson,
              tenant_name AS tenantName, device_name AS deviceName, policy_json AS policyJson,
              enrolled_at AS enrolledAt, updated_at AS updatedAt
       FROM binding WHERE id = 1`,
  ).get();
  if (!row) return null;
  const { chainPemsJson, policyJson, issuer, caPublicUrlsJson, ...rest } = row;
  return {
    ...rest,
    issuer: issuer ?? rest.caUrl,
    caPublicUrls: caPublicUrlsJson === null ? [] : (JSON.parse(caPublicUrlsJson) as string[]),
    chainPems: JSON.parse(chainPemsJson) as string[],
    policy: JSON.parse(policyJson) as BindingPolicy,
  };
}
