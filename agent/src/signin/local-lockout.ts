import type { AgentStore } from '../store/agent-store.js';
import { statement } from '../store/statements.js';

export interface LockoutPolicy {
  /** Failures within `windowMs` that lock the user out on this device. */
  maxFailures: number;
  windowMs: number;
  lockMs: number;
}

/** The CA's defaults, so a learner meets the same rule online and offline. */
export const DEFAULT_LOCKOUT_POLICY: LockoutPolicy = {
  maxFailures: 5,
  windowMs: 15 * 60_000,
  lockMs: 15 * 60_000,
};

export interface LockoutStatus {
  /** Failures counted in the current window (0 once it or a lock has run out). */
  failureCount: number;
  /** Trusted time until which sign-in is locked; null when not locked. */
  lockedUntil: number | null;
}

interface LockoutRow {
  failureCount: number;
  windowStart: number | null;
  lockedUntil: number | null;
}

/**
 * Offline lockout, per user on this device (the `lockout` table). Times are trusted time, so
 * setting the clock back neither ends a lock nor reopens a window. Write methods must run in
 * the caller's transaction, next to the outbox event that reports the change.
 */
export class LocalLockout {
  constructor(
    private readonly store: AgentStore,
    private readonly policy: LockoutPolicy,
  ) {}

  status(userId: string, nowMs: number): LockoutStatus {
    const row = this.row(userId);
    if (!row) return { failureCount: 0, lockedUntil: null };
    if (row.lockedUntil !== null) {
      return row.lockedUntil > nowMs
        ? { failureCount: row.failureCount, lockedUntil: row.lockedUntil }
        : { failureCount: 0, lockedUntil: null };
    }
    const windowOpen = row.windowStart !== null && nowMs - row.windowStart < this.policy.windowMs;
    return { failureCount: windowOpen ? row.failureCount : 0, lockedUntil: null };
  }

  /** Counts one failure; `tripped` is true for the failure that locked the user. */
  recordFailure(userId: string, nowMs: number): LockoutStatus & { tripped: boolean } {
    const current = this.status(userId, nowMs);
    const failureCount = current.failureCount + 1;
    const windowStart =
      current.failureCount === 0 ? nowMs : (this.row(userId)?.windowStart ?? nowMs);
    const tripped = failureCount >= this.policy.maxFailures;
    const lockedUntil = tripped ? nowMs + this.policy.lockMs : null;
    statement<[string, number, number, number | null, number]>(
      this.store.db,
      `INSERT INTO lockout (user_id, failure_count, window_start, locked_until, updated_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET failure_count = excluded.failure_count,
           window_start = excluded.window_start, locked_until = excluded.locked_until,
           updated_at = excluded.updated_at`,
    ).run(userId, failureCount, windowStart, lockedUntil, nowMs);
    return { failureCount, lockedUntil, tripped };
  }

  reset(userId: string): void {
    statement<[string]>(this.store.db, 'DELETE FROM lockout WHERE user_id = ?').run(userId);
  }

  private row(userId: string): LockoutRow | undefined {
    return statement<[string], LockoutRow>(
      this.store.db,
      `SELECT failure_count AS failureCount, window_start AS windowStart,
                locked_until AS lockedUntil
         FROM lockout WHERE user_id = ?`,
    ).get(userId);
  }
}
