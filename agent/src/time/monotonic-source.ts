import { readFileSync } from 'node:fs';
import { uptime } from 'node:os';
import type { Clock } from '@lantern/shared';
import { systemClock } from '@lantern/shared';

/**
 * Elapsed time that setting the wall clock cannot move (docs/architecture.md §9 invariant 2). It must be
 * system-wide, not per process: the CLI and the daemon read and write the same trusted-time row.
 */
export interface MonotonicSource {
  /** Changes at every boot; `UNKNOWN_BOOT_ID` when the platform cannot tell boots apart. */
  bootId(): string;
  /** Time since boot, suspend included; only comparable between readings with one boot id. */
  uptimeMs(): number;
}

/** No monotonic evidence: trusted time falls back to the wall-clock anchor rule alone. */
export const UNKNOWN_BOOT_ID = 'unknown';

const LINUX_BOOT_ID = '/proc/sys/kernel/random/boot_id';

let cachedBootId: string | undefined;

function readBootId(): string {
  // A boot id cannot change while a process runs, so one read per process is enough.
  if (cachedBootId !== undefined) return cachedBootId;
  try {
    const id = readFileSync(LINUX_BOOT_ID, 'utf8').trim();
    cachedBootId = id === '' ? UNKNOWN_BOOT_ID : id;
  } catch {
    cachedBootId = UNKNOWN_BOOT_ID;
  }
  return cachedBootId;
}

/**
 * Linux's boot id with `os.uptime()` (CLOCK_BOOTTIME, so a suspended laptop still counts the
 * time). Elsewhere the boot id is unknown: a boot time derived from the wall clock would be
 * exactly the evidence a clock rollback forges.
 */
export const systemMonotonic: MonotonicSource = {
  bootId: readBootId,
  uptimeMs: () => Math.floor(uptime() * 1000),
};

const noEvidence: MonotonicSource = { bootId: () => UNKNOWN_BOOT_ID, uptimeMs: () => 0 };

/**
 * The system's uptime next to the system clock, and no evidence next to any other clock: real
 * uptime beside a test's manual clock would move trusted time by however long the test ran.
 */
export function defaultMonotonic(clock: Clock): MonotonicSource {
  return clock === systemClock ? systemMonotonic : noEvidence;
}

export interface ManualMonotonic extends MonotonicSource {
  advance(ms: number): void;
  /** A new boot: a fresh boot id and uptime back to `uptimeMs`. */
  reboot(uptimeMs?: number): void;
  /** Sets the raw uptime, even backwards, to test readings no real system produces. */
  setUptime(ms: number): void;
}

/** A monotonic source driven by hand, for tests and the fleet simulation. */
export function manualMonotonic(uptimeMs = 0, bootId = 'boot-1'): ManualMonotonic {
  let boots = 1;
  let id = bootId;
  let now = uptimeMs;
  return {
    bootId: () => id,
    uptimeMs: () => now,
    advance: (ms) => {
      now += ms;
    },
    reboot: (fresh = 0) => {
      boots += 1;
      id = `${bootId}-${boots}`;
      now = fresh;
    },
    setUptime: (ms) => {
      now = ms;
    },
  };
}
