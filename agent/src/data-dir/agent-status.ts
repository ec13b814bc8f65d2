import { parseCertificate } from '@lantern/shared';
import type { BindingPolicy } from '../enrollment/device-binding.js';
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
      enrolled: true;
      deviceId: string;
      tenantId: string;
      caUrl: string;
      /** The CA's name for itself, as it stated it; tokens must carry it as `iss`. */
      caIssuer: string;
      rootFingerprint: string;
      enrolledAt: string;
      certificate: {
        serialNumber: string;
        notAfter: string;
        /** Whole days from trusted time to notAfter; negative once expired. */
        daysLeft: number;
      };
      policy: BindingPolicy;
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

export function readAgentStatus(store: AgentStore): AgentStatus {
  const binding = readDeviceBinding(store);
  if (binding === null) return { enrolled: false };
  const trustedTime = new TrustedTime(store);
  const now = trustedTime.trustedNow();
  const mark = trustedTime.state();
  const certificate = parseCertificate(binding.certificatePem);
  const sync = store.db
    .prepare<[], SyncRow>(
      `SELECT revocation_cursor AS revocationCursor, last_sync_at AS lastSyncAt,
              (SELECT count(*) FROM outbox WHERE acked = 0) AS outboxDepth
       FROM sync_state WHERE id = 1`,
    )
    .get();
  if (!sync) throw new Error('sync_state row missing: the store was not migrated');
  return {
    enrolled: true,
    deviceId: binding.deviceId,
    tenantId: binding.tenantId,
    caUrl: binding.caUrl,
    caIssuer: binding.issuer,
    rootFingerprint: binding.rootFingerprint,
    enrolledAt: new Date(binding.enrolledAt).toISOString(),
    certificate: {
      serialNumber: certificate.serialNumber,
      notAfter: certificate.notAfter.toISOString(),
      daysLeft: Math.floor((certificate.notAfter.getTime() - now) / DAY_MS),
    },
    policy: binding.policy,
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
