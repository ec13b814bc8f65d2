import type { AgentStore } from '../store/agent-store.js';

/** Offline policy as the CA states it at enrollment (and later on sync). */
export interface BindingPolicy {
  maxOfflineSeconds: number;
  /** Fraction of the certificate lifetime after which the agent renews (DESIGN §3.4). */
  renewFromFraction: number;
  renewalGraceDays: number;
}

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
  caUrl: string;
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
  policyJson: string;
  enrolledAt: number;
  updatedAt: number;
}

/** The binding, or null before enrollment. */
export function readDeviceBinding(store: AgentStore): DeviceBinding | null {
  const row = store.db
    .prepare<[], BindingRow>(
      `SELECT device_id AS deviceId, tenant_id AS tenantId, certificate_pem AS certificatePem,
              chain_pems_json AS chainPemsJson, root_pem AS rootPem,
              root_fingerprint AS rootFingerprint, ca_url AS caUrl, policy_json AS policyJson,
              enrolled_at AS enrolledAt, updated_at AS updatedAt
       FROM binding WHERE id = 1`,
    )
    .get();
  if (!row) return null;
  const { chainPemsJson, policyJson, ...rest } = row;
  return {
    ...rest,
    chainPems: JSON.parse(chainPemsJson) as string[],
    policy: JSON.parse(policyJson) as BindingPolicy,
  };
}
