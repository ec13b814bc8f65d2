import type { FleetCa } from './fleet-ca.js';
import type { FleetDevice, FleetUser } from './fleet-device.js';
import type { ViolationLog } from './violations.js';

const MINUTE = 60_000;
/** The agent's rollback tolerance plus the largest forward skew simulated: trusted time may
 * trail or lead true time by this much without any rule being broken. */
export const TIME_SLACK_MS = 5 * MINUTE + 10 * MINUTE;

export interface FleetRevocation {
  kind: 'device' | 'user' | 'session';
  subjectId: string;
  tenantId: string;
  /** Logical order of the run's operations: "after" means a larger op. */
  op: number;
  atMs: number;
  /** Devices whose completed sync started after it. */
  learnedBy: Set<number>;
}

/** What the checks at the end read besides the databases. */
export interface FleetState {
  ca: FleetCa;
  devices: FleetDevice[];
  usersByTenant: Map<string, FleetUser[]>;
  revocations: FleetRevocation[];
  sessionsById: Map<string, { tenantId: string; device: number }>;
  /** Offline sign-ins accepted, by session id: when (true time) and on which device. */
  offlineSignins: Map<string, { device: number; atMs: number }>;
  violations: ViolationLog;
}
