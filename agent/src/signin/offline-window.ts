import type { AgentStore } from '../store/agent-store.js';
import { readSyncCursor } from '../sync/sync-cursor.js';
import type { BindingFacts } from './binding-facts.js';

/**
 * End of the max offline window (epoch ms): the certificate's maxOfflineSeconds after the last
 * time this device heard from the CA with authority, i.e. the signed server time of the last
 * complete sync, or the binding certificate's start (enrollment, renewal). Online sign-ins do
 * not count: they bring no revocation feed, and the window exists so that revocations arrive
 * (invariant 1). Only CA-signed times count: trusted time may run ahead of the CA's (a mark
 * raised by a clock set forward never comes down), and a window measured from it would end
 * later than the CA's (found by the fleet simulation, issue 11).
 */
export function offlineWindowEnd(store: AgentStore, facts: BindingFacts): number {
  const lastContact = Math.max(facts.validFromMs, readSyncCursor(store).lastServerTime ?? 0);
  return lastContact + facts.maxOfflineSeconds * 1000;
}
