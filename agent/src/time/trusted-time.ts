import type { AgentStore } from '../store/agent-store.js';

export type TrustedTimeSource = 'none' | 'wall_clock' | 'server';

export interface TrustedTimeState {
  /** High-water mark of time seen, epoch ms. Never decreases. */
  markMs: number;
  /** The wall clock reading when the mark was last set. */
  anchorWallMs: number;
  source: TrustedTimeSource;
}

export type WallClockObservation =
  | { rollback: false; wallClock: number; mark: number; trustedNow: number }
  /** The caller records `identity.device.clock_rollback_detected` and refuses offline sign-in. */
  | { rollback: true; wallClock: number; mark: number; trustedNow: number; skewSeconds: number };

export interface TrustedTimeOptions {
  /** How far the wall clock may fall behind before it counts as rolled back (NTP steps, drift). */
  rollbackToleranceMs?: number;
}

export const DEFAULT_ROLLBACK_TOLERANCE_MS = 5 * 60_000;

/**
 * DESIGN §4 trusted time, persisted in the `trusted_time` row and read through on every call,
 * so the daemon and the CLI agree. The wall clock comes from the store's injected clock.
 *
 * Refinement of "max(wall clock, mark)", raised in the report: the mark is anchored to the wall
 * clock reading at which it was set, and trusted now = max(wall, mark + wall time elapsed
 * since the anchor). A rollback is the wall clock falling behind its anchor, not behind the
 * mark. For marks set from the wall clock (anchor = mark) this is exactly the DESIGN rule. For
 * a signed server time it stops a device whose clock is merely slow from reading as rolled
 * back (and refusing every offline sign-in) until its clock catches up, while a clock set back
 * is still caught. Trusted now is never below DESIGN's value, so no window can get longer.
 */
export class TrustedTime {
  private readonly toleranceMs: number;

  constructor(
    private readonly store: AgentStore,
    options: TrustedTimeOptions = {},
  ) {
    this.toleranceMs = options.rollbackToleranceMs ?? DEFAULT_ROLLBACK_TOLERANCE_MS;
    if (!Number.isFinite(this.toleranceMs) || this.toleranceMs < 0) {
      throw new RangeError('rollbackToleranceMs must be a non-negative number');
    }
  }

  state(): TrustedTimeState {
    const row = this.store.db
      .prepare<[], { markMs: number; anchorWallMs: number; source: TrustedTimeSource }>(
        'SELECT mark_ms AS markMs, anchor_wall_ms AS anchorWallMs, source FROM trusted_time WHERE id = 1',
      )
      .get();
    if (!row) throw new Error('trusted_time row missing: the store was not migrated');
    return row;
  }

  /** Epoch ms to measure every validity window against; never behind the persisted mark. */
  trustedNow(): number {
    return trustedNowOf(this.state(), this.store.clock.now());
  }

  /** Call at each sign-in attempt, before any window is checked. */
  observeWallClock(): WallClockObservation {
    return this.store.transaction(() => {
      const state = this.state();
      const wallClock = this.store.clock.now();
      const trustedNow = trustedNowOf(state, wallClock);
      if (wallClock < state.anchorWallMs - this.toleranceMs) {
        return {
          rollback: true,
          wallClock,
          mark: state.markMs,
          trustedNow,
          skewSeconds: Math.trunc((wallClock - trustedNow) / 1000),
        };
      }
      // Behind the anchor but within tolerance: tolerated, and the anchor is not moved back, so
      // many small steps back add up to a detected rollback instead of slipping through.
      if (wallClock < state.anchorWallMs) {
        return { rollback: false, wallClock, mark: state.markMs, trustedNow };
      }
      this.write({ markMs: trustedNow, anchorWallMs: wallClock, source: 'wall_clock' });
      return { rollback: false, wallClock, mark: trustedNow, trustedNow };
    });
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
      const state = this.state();
      const wallClock = this.store.clock.now();
      const trustedNow = trustedNowOf(state, wallClock);
      const next: TrustedTimeState = {
        markMs: Math.max(trustedNow, serverTimeMs),
        anchorWallMs: wallClock,
        source: serverTimeMs >= trustedNow ? 'server' : 'wall_clock',
      };
      this.write(next);
      return next;
    });
  }

  private write(state: TrustedTimeState): void {
    this.store.db
      .prepare<[number, number, TrustedTimeSource]>(
        'UPDATE trusted_time SET mark_ms = ?, anchor_wall_ms = ?, source = ? WHERE id = 1',
      )
      .run(state.markMs, state.anchorWallMs, state.source);
  }
}

function trustedNowOf(state: TrustedTimeState, wallClock: number): number {
  const elapsed = Math.max(0, wallClock - state.anchorWallMs);
  return Math.max(wallClock, state.markMs + elapsed);
}
