/** Milliseconds since the Unix epoch. Every component takes a Clock so tests can freeze time. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface ManualClock extends Clock {
  set(epochMs: number): void;
  advance(ms: number): void;
}

export function manualClock(startMs: number): ManualClock {
  let current = startMs;
  return {
    now: () => current,
    set: (epochMs) => {
      current = epochMs;
    },
    advance: (ms) => {
      current += ms;
    },
  };
}

export function epochSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}

/**
 * Test-only: end-to-end tests move a real process's clock with this variable (milliseconds
 * added to the system clock) instead of sleeping through days of certificate lifetime.
 */
export const TEST_TIME_OFFSET_ENV = 'LANTERN_TEST_TIME_OFFSET_MS';

/** The system clock, shifted by `LANTERN_TEST_TIME_OFFSET_MS` when that is set (tests only). */
export function clockFromEnv(env: NodeJS.ProcessEnv): Clock {
  const text = env[TEST_TIME_OFFSET_ENV];
  if (text === undefined || text === '') return systemClock;
  const offsetMs = Number(text);
  if (!Number.isSafeInteger(offsetMs)) {
    throw new TypeError(`${TEST_TIME_OFFSET_ENV} must be an integer number of milliseconds`);
  }
  return { now: () => Date.now() + offsetMs };
}
