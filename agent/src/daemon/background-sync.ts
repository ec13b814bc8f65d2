import type { SyncRunOutcome } from '../sync/sync-client.js';
import { Backoff } from '../sync/backoff.js';

/** What the scheduler drives; `SyncClient` is one. */
export interface SyncRunner {
  run(): Promise<SyncRunOutcome>;
  /** Whether the CA answers at all (`GET /health/live`). */
  probe(): Promise<boolean>;
}

export interface SchedulerTimers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface BackgroundSyncOptions {
  runner: SyncRunner;
  /** Between runs while the CA answers. 60 s. */
  intervalMs?: number;
  /** First probe after a run that failed; probes then back off up to `intervalMs`. 5 s. */
  probeBaseMs?: number;
  timers?: SchedulerTimers;
  random?: () => number;
  /** After every run; a thrown error (a bug or a broken store) is reported here too. */
  onRun?: (outcome: SyncRunOutcome) => void;
  onError?: (error: unknown) => void;
}

export const DEFAULT_SYNC_INTERVAL_MS = 60_000;
export const DEFAULT_PROBE_BASE_MS = 5_000;

/** Timers that do not keep a CLI or a test process alive on their own; the server does that. */
const unrefTimers: SchedulerTimers = {
  set: (callback, ms) => setTimeout(callback, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * The sync scheduler of `lantern-agent serve` (docs/architecture.md §5): a run on start, then every interval,
 * after each sign-in (`trigger()`), and as soon as connectivity returns. A run that could not
 * finish switches to probing `GET /health/live` with backoff, which is cheap and unsigned, and
 * the first probe that answers starts a run. Never two runs at once: a trigger during a run
 * asks for one more run after it, however many triggers came in.
 */
export class BackgroundSync {
  private readonly runner: SyncRunner;
  private readonly intervalMs: number;
  private readonly timers: SchedulerTimers;
  private readonly probeBackoff: Backoff;
  private readonly onRun: ((outcome: SyncRunOutcome) => void) | undefined;
  private readonly onError: ((error: unknown) => void) | undefined;
  private timer: unknown = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  private probes = 0;

  constructor(options: BackgroundSyncOptions) {
    this.runner = options.runner;
    this.intervalMs = options.intervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    this.timers = options.timers ?? unrefTimers;
    this.probeBackoff = new Backoff(
      {
        baseMs: Math.min(options.probeBaseMs ?? DEFAULT_PROBE_BASE_MS, this.intervalMs),
        maxMs: this.intervalMs,
      },
      options.random,
    );
    this.onRun = options.onRun;
    this.onError = options.onError;
  }

  /** Starts with a run right away. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.trigger();
  }

  /** Requests a run now (e.g. after a sign-in); resolves when the run that covers it is over. */
  trigger(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.cancelTimer();
    this.running = this.loop().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Stops scheduling and waits for a run in progress to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer();
    await this.running;
  }

  private async loop(): Promise<void> {
    let outcome: SyncRunOutcome | null = null;
    do {
      this.again = false;
      try {
        outcome = await this.runner.run();
        this.onRun?.(outcome);
      } catch (error) {
        outcome = null;
        this.onError?.(error);
      }
    } while (this.again && !this.stopped);
    this.schedule(outcome);
  }

  private schedule(outcome: SyncRunOutcome | null): void {
    if (this.stopped) return;
    // A wiped device has no key to sign with: nothing left to schedule.
    if (outcome?.device.revoked === true && outcome.device.keysDestroyedAt !== null) return;
    if (outcome?.lastFailure?.reason !== 'unreachable') {
      // Success, or a failure a quick retry would not cure (a refusal, a bad answer).
      if (outcome?.lastFailure === null) this.probes = 0;
      this.setTimer(() => void this.trigger(), this.intervalMs);
      return;
    }
    this.probeLater();
  }

  private async probe(): Promise<void> {
    if (this.stopped || this.running) return;
    const answered = await this.runner.probe();
    if (this.stopped || this.running) return;
    if (answered) await this.trigger();
    else this.probeLater();
  }

  /** Probes back off across runs too, so a CA that answers probes but not syncs is not hammered. */
  private probeLater(): void {
    this.probes += 1;
    this.setTimer(() => void this.probe(), this.probeBackoff.delayMs(this.probes));
  }

  private setTimer(callback: () => void, ms: number): void {
    this.cancelTimer();
    this.timer = this.timers.set(() => {
      this.timer = null;
      callback();
    }, ms);
  }

  private cancelTimer(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }
}
