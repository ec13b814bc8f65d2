import type { AgentStore } from '../store/agent-store.js';
import type { BindingFacts } from './binding-facts.js';
import { statement } from '../store/statements.js';

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
  const row = statement<[], { lastServerTime: number | null }>(
    store.db,
    'SELECT last_server_time AS lastServerTime FROM sync_state WHERE id = 1',
  ).get();
  const lastContact = Math.max(facts.validFromMs, row?.lastServerTime ?? 0);
  return lastContact + facts.maxOfflineSeconds * 1000;
}
