import { existsSync } from 'node:fs';
import type { Clock, Command, CommandIo } from '@lantern/shared';
import { LanternError, clockFromEnv, optionalString, systemClock } from '@lantern/shared';
import { agentPaths, resolveDataDir } from '../data-dir/agent-paths.js';
import type { OpenedAgent } from '../data-dir/open-agent.js';
import type { DeviceRevocationState } from '../enforcement/device-revocation.js';
import {
  BindingExpiredError,
  CaUnreachableError,
  DataKeyDestroyedError,
  NotEnrolledError,
  SyncFailedError,
} from '../errors.js';
import type { SyncFailure, SyncProgress, SyncRunOutcome } from '../sync/sync-client.js';
import type { RenewalOutcome } from '../renewal/renew-binding.js';
import { renewedText } from './renew-command.js';

/** Progress lines only when the backlog takes more than one round; a quick sync stays quiet. */
const PROGRESS_FROM_ROUND = 2;
/** Someone is waiting at a terminal: about 3 s of backoff, then say what failed. */
const CLI_ATTEMPTS = 3;

/**
 * `lantern-agent sync`: rounds until the outbox is handed over and the revocation feed read.
 * Progress goes to stderr, the summary to stdout (one JSON object with --json). A device
 * revoked by this sync still exits 0 (the sync worked; `deviceRevoked` says what it found). A
 * device already wiped exits 1 with `data_key_destroyed`, saying when and why it was revoked.
 */
export const syncCommand: Command = {
  path: ['sync'],
  summary: 'Hand the outbox over to the CA and apply its revocations now',
  usage: 'sync [--data-dir D]',
  options: { 'data-dir': { type: 'string' } },
  async run(values, _positionals, io) {
    const dataDir = resolveDataDir(optionalString(values, 'data-dir'), io.env);
    const clock = clockFromEnv(io.env);
    let expired: unknown = null;
    let renewal = await renewIfDue(dataDir, clock, io).catch((error: unknown) => {
      if (!(error instanceof BindingExpiredError)) throw error;
      // Still worth a sync: a revoked device may hand its outbox over on an expired binding.
      expired = error;
      return null;
    });
    const agent = await openOrExplain(dataDir, clock);
    try {
      const { SyncClient } = await import('../sync/sync-client.js');
      const started = systemClock.now();
      const client = new SyncClient({
        agent,
        onProgress: (progress) => {
          if (progress.rounds >= PROGRESS_FROM_ROUND) io.stderr(progressLine(progress));
        },
      });
      const outcome = await client.run({ maxConsecutiveFailures: CLI_ATTEMPTS });
      const seconds = (systemClock.now() - started) / 1000;
      if (!outcome.completed && outcome.lastFailure !== null) {
        throw expired ?? failureError(outcome.lastFailure, outcome);
      }
      // Once more after a sync: its signed server time may have moved trusted time (a clock set
      // back) into the renewal window the check before it could not see.
      const after =
        outcome.completed && !outcome.device.revoked && renewal?.renewed !== true
          ? await renewIfDue(dataDir, clock, io).catch(() => null)
          : null;
      if (after?.renewed === true) renewal = after;
      const human = summaryText(outcome, seconds);
      return {
        json: { ...summaryJson(dataDir, outcome), renewal },
        human: renewal?.renewed ? `${renewedText(renewal)}\n${human}` : human,
      };
    } finally {
      agent.close();
    }
  },
};

/** Opens the agent; a device whose keys were shredded gets its revocation explained instead. */
async function openOrExplain(dataDir: string, clock: Clock): Promise<OpenedAgent> {
  try {
    const { openAgent } = await import('../data-dir/open-agent.js');
    return await openAgent({ dataDir, clock });
  } catch (error) {
    if (!(error instanceof DataKeyDestroyedError)) throw error;
    const paths = agentPaths(dataDir);
    if (!existsSync(paths.database)) throw new NotEnrolledError(`${dataDir} is not enrolled`);
    const [{ openAgentStore }, { readDeviceRevocation }, { shredDeviceKeys }, { TrustedTime }] =
      await Promise.all([
        import('../store/agent-store.js'),
        import('../enforcement/device-revocation.js'),
        import('../enforcement/shred-device-keys.js'),
        import('../time/trusted-time.js'),
      ]);
    const store = openAgentStore(paths.database, { clock });
    try {
      const state = readDeviceRevocation(store);
      if (state?.revoked !== true) throw error;
      // The data key went but the process died before the rest: finish the wipe now.
      if (state.keysDestroyedAt === null) {
        await shredDeviceKeys({ store, paths, now: new TrustedTime(store).trustedNow() });
      }
      throw new DataKeyDestroyedError(
        `this device was revoked at ${new Date(state.revokedAt).toISOString()} (${state.reason}) and wiped; enroll again into a new data directory`,
        { details: { revokedAt: new Date(state.revokedAt).toISOString(), reason: state.reason } },
      );
    } finally {
      store.close();
    }
  }
}

/**
 * Renewal comes first (docs/architecture.md §3.4): past its notAfter the old certificate could not sign the
 * sync proof. A renewal that fails for a reason a later try can fix (CA down, refused) does not
 * stop the sync, which works on the old certificate until it expires. Past the grace period
 * (`binding_expired`) the sync is still tried, since the CA lets a revoked device hand over on
 * an expired binding; when it fails, `binding_expired` (re-enroll) is the answer.
 */
async function renewIfDue(
  dataDir: string,
  clock: Clock,
  io: CommandIo,
): Promise<RenewalOutcome | null> {
  try {
    const { renewBinding } = await import('../renewal/renew-binding.js');
    return await renewBinding({ dataDir, clock, when: 'when_due' });
  } catch (error) {
    if (error instanceof BindingExpiredError) throw error;
    // Opening the data directory for the sync says why it cannot be used.
    if (error instanceof NotEnrolledError || error instanceof DataKeyDestroyedError) return null;
    io.stderr(
      `lantern-agent: renewal failed, syncing with the current certificate: ${(error as Error).message}`,
    );
    return null;
  }
}

function progressLine(progress: SyncProgress): string {
  return `sync: round ${progress.rounds}: ${progress.pushed} pushed, ${progress.acked} acked, ${progress.pending} waiting, ${progress.revocationsApplied} revocation(s) applied, cursor ${progress.cursor}`;
}

function deviceJson(device: DeviceRevocationState) {
  return device.revoked
    ? {
        deviceRevoked: true,
        revokedAt: new Date(device.revokedAt).toISOString(),
        revokeReason: device.reason,
        keysDestroyed: device.keysDestroyedAt !== null,
      }
    : { deviceRevoked: false };
}

function summaryJson(dataDir: string, outcome: SyncRunOutcome): Record<string, unknown> {
  return {
    dataDir,
    completed: outcome.completed,
    stalled: outcome.stalled,
    rounds: outcome.rounds,
    pushed: outcome.pushed,
    acked: outcome.acked,
    accepted: outcome.accepted,
    duplicates: outcome.duplicates,
    rejected: outcome.rejected,
    quarantined: outcome.quarantined,
    revocationsApplied: outcome.revocationsApplied,
    sessionsEnded: outcome.sessionsEnded,
    grantsDropped: outcome.grantsDropped,
    cursor: outcome.cursor,
    pending: outcome.pending,
    failedRounds: outcome.failures,
    ...deviceJson(outcome.device),
  };
}

function summaryText(outcome: SyncRunOutcome, seconds: number): string {
  const lines = [
    `Synced in ${outcome.rounds} round(s), ${seconds.toFixed(1)} s: ${outcome.pushed} event(s) pushed, ${outcome.acked} acked (${outcome.accepted} new at the CA, ${outcome.duplicates} duplicate(s), ${outcome.rejected} refused).`,
    `Revocations: ${outcome.revocationsApplied} applied, cursor ${outcome.cursor}; ${outcome.sessionsEnded} session(s) ended, ${outcome.grantsDropped} grant(s) dropped.`,
    `Outbox: ${outcome.pending} event(s) waiting.`,
  ];
  if (outcome.stalled) {
    lines.push('The CA stopped acking the waiting events; see `lantern-agent status`.');
  }
  if (outcome.device.revoked) {
    const when = new Date(outcome.device.revokedAt).toISOString();
    lines.push(
      outcome.device.keysDestroyedAt !== null
        ? `THIS DEVICE WAS REVOKED at ${when} (${outcome.device.reason}): sign-in state and keys are wiped.`
        : `THIS DEVICE WAS REVOKED at ${when} (${outcome.device.reason}): sign-in state is wiped; the keys go once the outbox is handed over.`,
    );
  }
  return lines.join('\n');
}

/** The failure of the last round, with the CA's own code when it refused. */
function failureError(failure: SyncFailure, outcome: SyncRunOutcome): LanternError {
  const progress = `${outcome.acked} event(s) acked before that, ${outcome.pending} still waiting`;
  if (failure.reason === 'unreachable') {
    return new CaUnreachableError(`${failure.detail}; ${progress}`);
  }
  if (failure.reason === 'ca_refused' && failure.caCode !== undefined) {
    return new LanternError(
      failure.caCode,
      failure.status ?? 502,
      `${failure.detail}; ${progress}`,
    );
  }
  return new SyncFailedError(`${failure.reason}: ${failure.detail}; ${progress}`);
}
