import type { BindingPolicy } from '@lantern/shared';
import { parseCertificate } from '@lantern/shared';

const DAY_MS = 86_400_000;

/** When a binding certificate may, should and can no longer be renewed (docs/architecture.md §3.4). */
export interface RenewalSchedule {
  notBefore: number;
  notAfter: number;
  /** `renewFromFraction` of the lifetime: the CA renews from here on. */
  renewableAt: number;
  /** `renewalGraceDays` past notAfter: after this only re-enrollment helps. */
  graceEndsAt: number;
}

export type RenewalPhase = 'valid' | 'due' | 'expired_in_grace' | 'expired';

export function renewalSchedule(certificatePem: string, policy: BindingPolicy): RenewalSchedule {
  const leaf = parseCertificate(certificatePem);
  const notBefore = leaf.notBefore.getTime();
  const notAfter = leaf.notAfter.getTime();
  return {
    notBefore,
    notAfter,
    renewableAt: notBefore + Math.ceil((notAfter - notBefore) * policy.renewFromFraction),
    graceEndsAt: notAfter + policy.renewalGraceDays * DAY_MS,
  };
}

export function renewalPhase(schedule: RenewalSchedule, now: number): RenewalPhase {
  if (now < schedule.renewableAt) return 'valid';
  if (now <= schedule.notAfter) return 'due';
  return now <= schedule.graceEndsAt ? 'expired_in_grace' : 'expired';
}
