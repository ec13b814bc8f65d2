import type { AgentStore } from '../store/agent-store.js';
import { readSyncCursor } from '../sync/sync-cursor.js';
import type { BindingFacts } from './binding-facts.js';

/**
 * End of the max offline window (epoch ms): the certificate's maxOfflineSeconds after the last
 * time this device heard from the CA with authority, i.e. the signed server time of the last
 * complete sync, or, before the first one, the binding certificate's start (enrollment hands
 * over the feed's head with the binding). Online sign-ins and renewals do not count: they bring
 * no revocation feed, and the window exists so that revocations arrive (invariant 1); a device
 * whose renewal succeeded but whose sync failed would otherwise restart its window without
 * having learnt a single revocation (found by the 200-device fleet run). Only CA-signed times
 * count: trusted time may run ahead of the CA's (a mark raised by a clock set forward never comes
 * down), and a window measured from it would end later than the CA's (issue 11).
 */
export function offlineWindowEnd(store: AgentStore, facts: BindingFacts): number {
  const lastContact = readSyncCursor(store).lastServerTime ?? facts.validFromMs;
  return lastContact + facts.maxOfflineSeconds * 1000;
}
