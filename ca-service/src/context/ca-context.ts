import type { Actor, Clock, IdGenerator, Logger } from '@lantern/shared';
import type { IssuingAuthority } from '../issuance/binding-certificate.js';
import type { DeviceBindingProfile } from '../pki/profiles.js';
import type { EventStore } from '../store/event-store.js';

/** The tenant that owns installation-wide records (global admin keys). Never holds devices. */
export const SYSTEM_TENANT_ID = 'ten_00000000000000000000000000';

export interface CaMaterial {
  authority: IssuingAuthority;
  rootPem: string;
  issuingPem: string;
  rootFingerprint: string;
  issuingFingerprint: string;
}

export interface CaContext {
  store: EventStore;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  ca: CaMaterial;
  bindingProfile: DeviceBindingProfile;
  /** Public base URL of this service, used in certificates (CRL distribution point) and tokens. */
  publicUrl: string;
}

export interface CommandMeta {
  actor: Actor;
  correlationId: string;
}

export function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
