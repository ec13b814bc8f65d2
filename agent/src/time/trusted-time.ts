import type { AgentStore } from '../store/agent-store.js';
import type { MonotonicSource } from './monotonic-source.js';
import { UNKNOWN_BOOT_ID, defaultMonotonic } from './monotonic-source.js';
import { statement } from '../store/statements.js';

export type TrustedTimeSource = 'none' | 'wall_clock' | 'server';

export interface TrustedTimeState {
  /** High-water mark of time seen, epoch ms. Never decreases. */
  markMs: number;
  /** The wall clock reading when the mark was last set. */
  anchorWallMs: number;
  source: TrustedTimeSource;
  /** Boot id at the anchor; null when the anchor carries no monotonic evidence. */
  anchorBootId: string | null;
  /** System uptime at the anchor, on boot `anchorBootId`. */
  anchorUptimeMs: number | null;
}

export type WallClockObservation =
  | { rollback: false; wallClock: number; mark: number; trustedNow: number }
  /** The caller records `identity.device.clock_rollback_detected` and refuses offline sign-in. */
  | { rollback: true; wallClock: number; mark: number; trustedNow: number; skewSeconds: number };

export interface TrustedTimeOptions {
  /** How far the wall clock may fall behind before it counts as rolled back (NTP steps, drift). */
  rollbackToleranceMs?: number;
  /** Elapsed time the wall clock cannot move; by default the system's, beside the system clock. */
  monotonic?: MonotonicSource;
}

export const DEFAULT_ROLLBACK_TOLERANCE_MS = 5 * 60_000;

/**
 * docs/architecture.md §4 trusted time, persisted in the `trusted_time` row and read through on every call,
 * so the daemon and the CLI agree. The wall clock comes from the store's injected clock.
 *
 * Refinement of "max(wall clock, mark)", raised in the report: the mark is anchored to the wall
 * clock reading at which it was set, and trusted now = max(wall, mark + wall time elapsed
 * since the anchor). A rollback is the wall clock falling behind its anchor, not behind the
 * mark. For marks set from the wall clock (anchor = mark) this is exactly the rule of docs/architecture.md §4. For
 * a signed server time it stops a device whose clock is merely slow from reading as rolled
 * back (and refusing every offline sign-in) until its clock catches up, while a clock set back
 * is still caught. Trusted now is never below the value of docs/architecture.md §4, so no window can get longer.
 *
 * Issue 11: a clock set back by less than the time the device sat idle stays ahead of the
 * anchor, so the anchor rule alone misses it. The anchor therefore also records the boot id and
 * system uptime; on the same boot, trusted now = max(wall, mark + uptime elapsed), and a wall
 * clock more than the tolerance behind anchor + uptime elapsed is a rollback. Uptime rather than
 * wall time elapsed also stops a slow clock corrected after a sync from pushing trusted time
 * ahead by the correction. Still never below max(wall, mark) (docs/architecture.md §4). Across a reboot
 * (or without a boot id, or with uptime gone backwards) there is no such evidence and only the
 * anchor rule applies, until the next anchor records the new boot.
 */
export class TrustedTime {
  private readonly toleranceMs: number;
  private readonly monotonic: MonotonicSource;

  constructor(
    private readonly store: AgentStore,
    options: TrustedTimeOptions = {},
  ) {
    this.toleranceMs = options.rollbackToleranceMs ?? DEFAULT_ROLLBACK_TOLERANCE_MS;
    this.monotonic = options.monotonic ?? defaultMonotonic(store.clock);
    if (!Number.isFinite(this.toleranceMs) || this.toleranceMs < 0) {
      throw new RangeError('rollbackToleranceMs must be a non-negative number');
    }
  }

  state(): TrustedTimeState {
    const row = statement<[], TrustedTimeState>(
      this.store.db,
      `SELECT mark_ms AS markMs, anchor_wall_ms AS anchorWallMs, source,
                anchor_boot_id AS anchorBootId, anchor_uptime_ms AS anchorUptimeMs
         FROM trusted_time WHERE id = 1`,
    ).get();
    if (!row) throw new Error('trusted_time row missing: the store was not migrated');
    return row;
  }

  /** Epoch ms to measure every validity window against; never behind the persisted mark. */
  trustedNow(): number {
    return this.reading(this.state()).trustedNow;
  }

  /** Call at each sign-in attempt, before any window is checked. */
  observeWallClock(): WallClockObservation {
    return this.store.transaction(() => {
      const { observation, anchor } = this.look();
      if (anchor !== null) this.write(anchor);
      return observation;
    });
  }

  /**
   * What `observeWallClock` would say now, writing nothing: for a caller that reads before a
   * long step (the KDF) and records the attempt, with `observeWallClock`, in one later
   * transaction.
   */
  peekWallClock(): WallClockObservation {
    return this.look().observation;
  }

  private look(): { observation: WallClockObservation; anchor: TrustedTimeState | null } {
    const state = this.state();
    const { wallClock, trustedNow, expectedWallMs, boot } = this.reading(state);
    if (wallClock < expectedWallMs - this.toleranceMs) {
      return {
        observation: {
          rollback: true,
          wallClock,
          mark: state.markMs,
          trustedNow,
          skewSeconds: Math.trunc((wallClock - trustedNow) / 1000),
        },
        anchor: null,
      };
    }
    // Behind the anchor but within tolerance: tolerated, and the anchor is not moved back, so
    // many small steps back add up to a detected rollback instead of slipping through.
    if (wallClock < state.anchorWallMs) {
      return {
        observation: { rollback: false, wallClock, mark: state.markMs, trustedNow },
        anchor: null,
      };
    }
    return {
      observation: { rollback: false, wallClock, mark: trustedNow, trustedNow },
      anchor: { markMs: trustedNow, anchorWallMs: wallClock, source: 'wall_clock', ...boot },
    };
  }

  /**
   * Raises the mark to a server time. Pass only a time that came signed by the CA and was
   * verified: this also re-anchors the wall clock, which is what ends a detected rollback.
   */
  observeServerTime(serverTimeMs: number): TrustedTimeState {
    if (!Number.isSafeInteger(serverTimeMs) || serverTimeMs < 0) {
      throw new RangeError('server time must be a non-negative integer of epoch milliseconds');
    }
    return this.store.transaction(() => {
      const { wallClock, trustedNow, boot } = this.reading(this.state());
      const next: TrustedTimeState = {
        markMs: Math.max(trustedNow, serverTimeMs),
        anchorWallMs: wallClock,
        source: serverTimeMs >= trustedNow ? 'server' : 'wall_clock',
        ...boot,
      };
      this.write(next);
      return next;
    });
  }

  private reading(state: TrustedTimeState): Reading {
    const wallClock = this.store.clock.now();
    const bootId = this.monotonic.bootId();
    const uptimeMs = this.monotonic.uptimeMs();
    const known = bootId !== UNKNOWN_BOOT_ID && Number.isSafeInteger(uptimeMs) && uptimeMs >= 0;
    const boot = known
      ? { anchorBootId: bootId, anchorUptimeMs: uptimeMs }
      : { anchorBootId: null, anchorUptimeMs: null };
    // Uptime behind its anchor on the same boot cannot happen; if it does, it proves nothing.
    if (
      known &&
      state.anchorBootId === bootId &&
      state.anchorUptimeMs !== null &&
      uptimeMs >= state.anchorUptimeMs
    ) {
      const elapsed = uptimeMs - state.anchorUptimeMs;
      return {
        wallClock,
        trustedNow: Math.max(wallClock, state.markMs + elapsed),
        expectedWallMs: state.anchorWallMs + elapsed,
        boot,
      };
    }
    const wallElapsed = Math.max(0, wallClock - state.anchorWallMs);
    return {
      wallClock,
      trustedNow: Math.max(wallClock, state.markMs + wallElapsed),
      expectedWallMs: state.anchorWallMs,
      boot,
    };
  }

  private write(state: TrustedTimeState): void {
    statement<[number, number, TrustedTimeSource, string | null, number | null]>(
      this.store.db,
      `UPDATE trusted_time
         SET mark_ms = ?, anchor_wall_ms = ?, source = ?, anchor_boot_id = ?, anchor_uptime_ms = ?
         WHERE id = 1`,
    ).run(state.markMs, state.anchorWallMs, state.source, state.anchorBootId, state.anchorUptimeMs);
  }
}

interface Reading {
  wallClock: number;
  trustedNow: number;
  /** Where the wall clock should be by the evidence: below it by more than the tolerance is a rollback. */
  expectedWallMs: number;
  /** The monotonic part of an anchor taken now. */
  boot: Pick<TrustedTimeState, 'anchorBootId' | 'anchorUptimeMs'>;
}
