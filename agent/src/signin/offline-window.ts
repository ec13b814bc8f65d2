import type { DeviceBinding } from '../enrollment/device-binding.js';
import type { AgentStore } from '../store/agent-store.js';
import type { BindingFacts } from './binding-facts.js';

/**
 * End of the max offline window (epoch ms, trusted time): the certificate's maxOfflineSeconds
 * after the last time this device heard from the CA with authority, i.e. the last complete
 * sync or the binding's last change (enrollment, renewal). Online sign-ins do not count: they
 * bring no revocation feed, and the window exists so that revocations arrive (invariant 1).
 */
export function offlineWindowEnd(
  store: AgentStore,
  binding: DeviceBinding,
  facts: BindingFacts,
): number {
  const row = store.db
    .prepare<[], { lastSyncAt: number | null }>(
      'SELECT last_sync_at AS lastSyncAt FROM sync_state WHERE id = 1',
    )
    .get();
  const lastContact = Math.max(binding.updatedAt, row?.lastSyncAt ?? 0);
  return lastContact + facts.maxOfflineSeconds * 1000;
}
