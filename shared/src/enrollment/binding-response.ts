import type { BindingPolicy } from '../sync/sync-contract.js';
import type { PublicJwks } from '../tokens/jwt-types.js';

/**
 * What `POST /v1/devices/enroll` and `/v1/devices/renew` answer a device: its binding
 * certificate and the context it needs offline (PEM strings).
 */
export interface BindingResponse {
  deviceId: string;
  tenantId: string;
  certificate: string;
  chain: string[];
  root: string;
  rootFingerprint: string;
  notAfter: string;
  policy: BindingPolicy;
  jwks: PublicJwks;
  revocationCursor: number;
  /** The CA's name for itself: agents expect it as `iss`, whatever URL they reached it by. */
  issuer: string;
  publicUrls: string[];
  /** The tenant's display name, for the device's sign-in page ("School: …"). */
  tenantName?: string;
  /** The name given at enrollment (the enrollment request or the token); absent when none was. */
  deviceName?: string;
}
