import type { BindingPolicy, KeyAssuranceTier } from '@lantern/shared';
import { keyAssuranceOf, parseCertificate } from '@lantern/shared';
import { readDeviceRevocation } from '../enforcement/device-revocation.js';
import { readDeviceBinding } from '../enrollment/device-binding.js';
import type { AgentStore } from '../store/agent-store.js';
import type { TrustedTimeSource } from '../time/trusted-time.js';
import { TrustedTime } from '../time/trusted-time.js';

const DAY_MS = 86_400_000;

/**
 * What `lantern-agent status` and `GET /v1/status` report. Public by design: ids, the root
 * fingerprint and dates only, never a key, a token or a path to one.
 */
export type AgentStatus =
  | { enrolled: false }
  | {
      /** The CA revoked this device and sync enforced it: nobody can sign in here any more. */
      enrolled: false;
      revoked: true;
      deviceId: string;
      tenantId: string;
      caUrl: string;
      revokedAt: string;
      reason: string;
      /** The keys are gone; until then the device still hands its last events over. */
      keysDestroyed: boolean;
      outboxDepth: number;
      lastSyncAt: string | null;
    }
  | {
      enrolled: true;
      deviceId: string;
      tenantId: string;
      caUrl: string;
      /** The CA's name for itself, as it stated it; tokens must carry it as `iss`. */
      caIssuer: string;
      /** The school's and the device's names as the CA gave them; null when it gave none. */
      tenantName: string | null;
      deviceName: string | null;
      rootFingerprint: string;
      enrolledAt: string;
      certificate: {
        serialNumber: string;
        notAfter: string;
        /** Whole days from trusted time to notAfter; negative once expired. */
        daysLeft: number;
      };
      policy: BindingPolicy;
      /**
       * The tier the binding certificate states (`software` for certificates from before the
       * extension). `hardware` is what this agent claimed: the CA certifies it without proof.
       */
      keyAssurance: KeyAssuranceTier;
      /** Where the keys are: `file` (software tier) or `tpm`; absent when not known here. */
      keyStore?: { kind: 'file' } | { kind: 'tpm'; tcti: string };
      revocationCursor: number;
      /** Events recorded here and not yet acknowledged by the CA. */
      outboxDepth: number;
      lastSyncAt: string | null;
      trustedTime: {
        now: string;
        /** Null until a sign-in or a sync has set a mark. */
        mark: string | null;
        source: TrustedTimeSource;
      };
    };

interface SyncRow {
  revocationCursor: number;
  lastSyncAt: number | null;
  outboxDepth: number;
}

export function readAgentStatus(
  store: AgentStore,
  keyStore?: { kind: 'file' } | { kind: 'tpm'; tcti: string },
): AgentStatus {
  const binding = readDeviceBinding(store);
  if (binding === null) return { enrolled: false };
  const sync = store.db
    .prepare<[], SyncRow>(
      `SELECT revocation_cursor AS revocationCursor, last_sync_at AS lastSyncAt,
              (SELECT count(*) FROM outbox WHERE acked = 0) AS outboxDepth
       FROM sync_state WHERE id = 1`,
    )
    .get();
  if (!sync) throw new Error('sync_state row missing: the store was not migrated');
  const revocation = readDeviceRevocation(store);
  if (revocation?.revoked === true) {
    return {
      enrolled: false,
      revoked: true,
      deviceId: binding.deviceId,
      tenantId: binding.tenantId,
      caUrl: binding.caUrl,
      revokedAt: new Date(revocation.revokedAt).toISOString(),
      reason: revocation.reason,
      keysDestroyed: revocation.keysDestroyedAt !== null,
      outboxDepth: sync.outboxDepth,
      lastSyncAt: sync.lastSyncAt === null ? null : new Date(sync.lastSyncAt).toISOString(),
    };
  }
  const trustedTime = new TrustedTime(store);
  const now = trustedTime.trustedNow();
  const mark = trustedTime.state();
  const certificate = parseCertificate(binding.certificatePem);
  return {
    enrolled: true,
    deviceId: binding.deviceId,
    tenantId: binding.tenantId,
    caUrl: binding.caUrl,
    caIssuer: binding.issuer,
    tenantName: binding.tenantName,
    deviceName: binding.deviceName,
    rootFingerprint: binding.rootFingerprint,
    enrolledAt: new Date(binding.enrolledAt).toISOString(),
    certificate: {
      serialNumber: certificate.serialNumber,
      notAfter: certificate.notAfter.toISOString(),
      daysLeft: Math.floor((certificate.notAfter.getTime() - now) / DAY_MS),
    },
    policy: binding.policy,
    keyAssurance: keyAssuranceOf(certificate.extensions) ?? 'software',
    ...(keyStore === undefined ? {} : { keyStore }),
    revocationCursor: sync.revocationCursor,
    outboxDepth: sync.outboxDepth,
    lastSyncAt: sync.lastSyncAt === null ? null : new Date(sync.lastSyncAt).toISOString(),
    trustedTime: {
      now: new Date(now).toISOString(),
      mark: mark.source === 'none' ? null : new Date(mark.markMs).toISOString(),
      source: mark.source,
    },
  };
}
