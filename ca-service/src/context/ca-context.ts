import type { Actor, Clock, IdGenerator, Logger } from '@lantern/shared';
import type { SecretBox } from '../secrets/secret-box.js';
import type { CaMetrics } from '../observability/metrics.js';
import type { CaMaterial } from '../pki/issuing-authority.js';
import type { DeviceBindingProfile } from '../pki/profiles.js';
import type { PasswordHasher } from '../passwords/password-hasher.js';
import type { EventStore } from '../store/event-store.js';
import type { KeyRing } from '../tokens/key-ring.js';

/** The tenant that owns installation-wide records (global admin keys). Never holds devices. */
export const SYSTEM_TENANT_ID = 'ten_00000000000000000000000000';

export interface CaContext {
  store: EventStore;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  ca: CaMaterial;
  bindingProfile: DeviceBindingProfile;
  /**
   * The CA's name for itself: the \`iss\` of its tokens and signed answers. Set at \`init\` (its
   * public URL then) and kept, because devices reach one CA under several names (issue 24).
   */
  publicUrl: string;
  /** Where devices and admins reach this CA now (\`serve --public-url\`), first one preferred. */
  publicUrls: readonly string[];
  tokenKeys: KeyRing;
  passwords: PasswordHasher;
  /** Encryption at rest for secrets the CA reads back (TOTP seeds); keyed from the passphrase. */
  secretBox: SecretBox;
  auth: AuthPolicy;
  /**
   * TPM manufacturer CA certificates (PEM bundles, roots and intermediates) an EK certificate must chain
   * to for a device to be recorded at the hardware tier; `<data dir>/tpm-manufacturers.pem`.
   */
  tpmManufacturers?: readonly string[];
  /** Prometheus metrics of this CA (its own registry); served at `GET /metrics`. */
  metrics: CaMetrics;
}

export interface AuthPolicy {
  /** Audience of access tokens. */
  audience: string;
  accessTokenSeconds: number;
  refreshTokenSeconds: number;
  lockout: { maxFailures: number; windowSeconds: number; lockSeconds: number };
  /** Upper bound of an offline grant; the binding certificate's notAfter bounds it too. */
  maxOfflineSeconds: number;
}

export const DEFAULT_AUTH_POLICY: AuthPolicy = {
  audience: 'lantern',
  accessTokenSeconds: 900,
  refreshTokenSeconds: 30 * 86_400,
  lockout: { maxFailures: 5, windowSeconds: 900, lockSeconds: 900 },
  maxOfflineSeconds: 14 * 86_400,
};

export interface CommandMeta {
  actor: Actor;
  correlationId: string;
}

export function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
