import type { AgentStatus, SyncState } from '@lantern/agent';
import type { DaemonState } from './agent-supervisor.js';

/** One icon per state; the tooltip says it in words. */
export type TrayIcon = 'online' | 'offline' | 'syncing' | 'attention' | 'revoked';

export interface TrayState {
  icon: TrayIcon;
  tooltip: string;
}

export interface TrayInput {
  daemon: DaemonState;
  /** Null while the daemon does not answer. */
  status: AgentStatus | null;
  sync: SyncState | null;
}

/**
 * What the tray shows (issue 23): whether the device is revoked or not set up, whether the
 * agent runs, and whether it reaches the CA — offline is a normal state for a school laptop,
 * so it is said calmly, with how many sign-ins wait to be reported.
 */
export function trayState(input: TrayInput): TrayState {
  const { daemon, status, sync } = input;
  if (daemon === 'failed') {
    return {
      icon: 'attention',
      tooltip: 'Lantern: the sign-in service stopped. Restart the device.',
    };
  }
  if (daemon !== 'running' || status === null) {
    return { icon: 'attention', tooltip: 'Lantern: starting the sign-in service…' };
  }
  if ('revoked' in status || sync?.revoked === true) {
    return {
      icon: 'revoked',
      tooltip: 'Lantern: this device was taken out of Lantern. Give it to your teacher.',
    };
  }
  if (!status.enrolled) {
    return { icon: 'attention', tooltip: 'Lantern: this device is not set up yet.' };
  }
  const waiting = sync === null ? status.outboxDepth : sync.pending;
  const pending = waiting === 0 ? '' : ` ${waiting} event(s) wait to be sent.`;
  if (sync === null || sync.connectivity === 'unknown') {
    return {
      icon: 'syncing',
      tooltip: `Lantern: checking the connection to the school.${pending}`,
    };
  }
  if (sync.connectivity === 'offline') {
    return {
      icon: 'offline',
      tooltip: `Lantern: offline. Sign-in works for people who signed in here before.${pending}`,
    };
  }
  return sync.completed
    ? { icon: 'online', tooltip: 'Lantern: connected to the school, up to date.' }
    : { icon: 'syncing', tooltip: `Lantern: connected to the school, catching up.${pending}` };
}
