import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manualClock } from '@lantern/shared';
import { readFileSync } from 'node:fs';
import { systemClock } from '@lantern/shared';
import {
  UNKNOWN_BOOT_ID,
  defaultMonotonic,
  manualMonotonic,
  systemMonotonic,
} from '../src/time/monotonic-source.js';
import { TrustedTime } from '../src/time/trusted-time.js';
import { useStores } from './support/open-stores.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const openStore = useStores();
const START = Date.UTC(2026, 10, 23, 10);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

const UPTIME = 3 * 60 * MINUTE;

function setup(tolerance = 5 * MINUTE) {
  const path = join(tempDir(), 'agent.db');
  const clock = manualClock(START);
  const monotonic = manualMonotonic(UPTIME);
  const store = openStore(path, { clock });
  const time = new TrustedTime(store, { rollbackToleranceMs: tolerance, monotonic });
  /** Time passing for real: the wall clock and the system uptime move together. */
  const idle = (ms: number) => {
    clock.advance(ms);
    monotonic.advance(ms);
  };
  return { path, clock, monotonic, idle, store, time };
}

const BOOT = { anchorBootId: 'boot-1', anchorUptimeMs: UPTIME };

describe('trusted time', () => {
  it('follows the wall clock before anything was observed', () => {
    const { clock, time } = setup();
    expect(time.trustedNow()).toBe(START);
    clock.advance(MINUTE);
    expect(time.trustedNow()).toBe(START + MINUTE);
    expect(time.state()).toEqual({
      markMs: 0,
      anchorWallMs: 0,
      source: 'none',
      anchorBootId: null,
      anchorUptimeMs: null,
    });
  });

  it('raises the mark as the wall clock moves forward', () => {
    const { idle, time } = setup();
    expect(time.observeWallClock()).toEqual({
      rollback: false,
      wallClock: START,
      mark: START,
      trustedNow: START,
    });
    idle(3 * DAY);
    expect(time.observeWallClock()).toMatchObject({ rollback: false, mark: START + 3 * DAY });
    expect(time.state()).toEqual({
      markMs: START + 3 * DAY,
      anchorWallMs: START + 3 * DAY,
      source: 'wall_clock',
      anchorBootId: 'boot-1',
      anchorUptimeMs: UPTIME + 3 * DAY,
    });
  });

  it('detects a rollback of 2 days, leaves the mark alone and does not let time go back', () => {
    const { clock, time } = setup();
    clock.advance(DAY);
    time.observeWallClock();
    const before = time.state();

    clock.advance(-2 * DAY);
    expect(time.observeWallClock()).toEqual({
      rollback: true,
      wallClock: START - DAY,
      mark: START + DAY,
      trustedNow: START + DAY,
      skewSeconds: -2 * 86_400,
    });
    expect(time.state()).toEqual(before);
    expect(time.trustedNow()).toBe(START + DAY);
    // Still rolled back at the next sign-in: nothing was "learned" from the bad clock.
    clock.advance(MINUTE);
    expect(time.observeWallClock().rollback).toBe(true);
    expect(time.trustedNow()).toBe(START + DAY);
  });

  it('tolerates small skew without lowering the mark', () => {
    const { clock, time } = setup();
    time.observeWallClock();
    clock.advance(-4 * MINUTE);
    expect(time.observeWallClock()).toEqual({
      rollback: false,
      wallClock: START - 4 * MINUTE,
      mark: START,
      trustedNow: START,
    });
    expect(time.state().markMs).toBe(START);
  });

  it('adds up small steps back into a rollback', () => {
    const { clock, time } = setup();
    time.observeWallClock();
    clock.advance(-4 * MINUTE);
    expect(time.observeWallClock().rollback).toBe(false);
    clock.advance(-4 * MINUTE);
    expect(time.observeWallClock().rollback).toBe(true);
  });

  it('raises the mark to a server time ahead of the wall clock', () => {
    const { idle, time } = setup();
    time.observeWallClock();
    const serverTime = START + 2 * DAY;
    expect(time.observeServerTime(serverTime)).toEqual({
      markMs: serverTime,
      anchorWallMs: START,
      source: 'server',
      ...BOOT,
    });
    expect(time.trustedNow()).toBe(serverTime);
    idle(MINUTE);
    expect(time.trustedNow()).toBe(serverTime + MINUTE);
  });

  it('never lowers the mark for a server time behind it', () => {
    const { clock, time } = setup();
    clock.advance(DAY);
    time.observeWallClock();
    expect(time.observeServerTime(START).markMs).toBe(START + DAY);
    expect(time.trustedNow()).toBe(START + DAY);
  });

  it('does not flag a clock that is merely slow after a sync', () => {
    const { idle, time } = setup();
    // The device clock runs an hour behind the CA.
    time.observeServerTime(START + 60 * MINUTE);
    idle(10 * MINUTE);
    expect(time.observeWallClock()).toMatchObject({
      rollback: false,
      trustedNow: START + 70 * MINUTE,
    });
  });

  it('ends a detected rollback at the next signed server time', () => {
    const { clock, time } = setup();
    clock.advance(DAY);
    time.observeWallClock();
    clock.advance(-2 * DAY);
    expect(time.observeWallClock().rollback).toBe(true);
    time.observeServerTime(START + DAY + MINUTE);
    expect(time.observeWallClock().rollback).toBe(false);
    expect(time.trustedNow()).toBe(START + DAY + MINUTE);
  });

  it('keeps the mark across reopen', () => {
    const { path, clock, store, time } = setup();
    time.observeServerTime(START + DAY);
    store.close();

    const reopened = new TrustedTime(openStore(path, { clock }), {
      monotonic: manualMonotonic(UPTIME),
    });
    expect(reopened.state()).toEqual({
      markMs: START + DAY,
      anchorWallMs: START,
      source: 'server',
      ...BOOT,
    });
    clock.advance(-DAY);
    expect(reopened.observeWallClock()).toMatchObject({ rollback: true, mark: START + DAY });
  });

  describe('monotonic evidence (issue 11)', () => {
    // Grant ends on day 14; the last offline sign-in was on day 13.
    const DAY_13 = START + 13 * DAY;

    function signedInOnDay13() {
      const context = setup();
      context.idle(13 * DAY);
      expect(context.time.observeWallClock().rollback).toBe(false);
      // Two days idle, then the clock is set to day 13.5: still ahead of the anchor.
      context.idle(2 * DAY);
      context.clock.set(DAY_13 + DAY / 2);
      return context;
    }

    it('catches a clock set back by less than the idle time on the same boot', () => {
      const { time } = signedInOnDay13();
      expect(time.observeWallClock()).toEqual({
        rollback: true,
        wallClock: DAY_13 + DAY / 2,
        mark: DAY_13,
        trustedNow: DAY_13 + 2 * DAY,
        skewSeconds: -1.5 * 86_400,
      });
      expect(time.trustedNow()).toBe(DAY_13 + 2 * DAY);
      expect(time.state().markMs).toBe(DAY_13);
    });

    it('across a reboot keeps the anchor rule alone (documented limit), then re-anchors', () => {
      const { clock, time, monotonic, idle } = signedInOnDay13();
      monotonic.reboot(10 * MINUTE);
      expect(time.observeWallClock()).toEqual({
        rollback: false,
        wallClock: DAY_13 + DAY / 2,
        mark: DAY_13 + DAY / 2,
        trustedNow: DAY_13 + DAY / 2,
      });
      expect(time.state()).toMatchObject({ anchorBootId: 'boot-1-2', anchorUptimeMs: 10 * MINUTE });
      // The new boot is evidence from here on: a clock set back after an idle day is caught.
      idle(DAY);
      expect(time.trustedNow()).toBe(DAY_13 + 1.5 * DAY);
      clock.advance(-DAY / 2);
      expect(time.observeWallClock()).toMatchObject({
        rollback: true,
        trustedNow: DAY_13 + 1.5 * DAY,
      });
    });

    it('runs trusted time with the uptime while the wall clock stands still', () => {
      const { time, monotonic } = setup();
      time.observeWallClock();
      monotonic.advance(2 * DAY);
      expect(time.trustedNow()).toBe(START + 2 * DAY);
      expect(time.observeWallClock()).toMatchObject({
        rollback: true,
        trustedNow: START + 2 * DAY,
      });
    });

    it('accepts a long idle without clock change, and drift within the tolerance', () => {
      const { clock, idle, time } = setup();
      time.observeWallClock();
      idle(10 * DAY);
      expect(time.observeWallClock()).toMatchObject({ rollback: false, mark: START + 10 * DAY });
      idle(DAY);
      clock.advance(-4 * MINUTE);
      expect(time.observeWallClock()).toMatchObject({
        rollback: false,
        trustedNow: START + 11 * DAY,
      });
    });

    it('does not flag a slow clock after a sync, however long the idle', () => {
      const { idle, time } = setup();
      time.observeServerTime(START + 60 * MINUTE);
      idle(5 * DAY);
      expect(time.observeWallClock()).toMatchObject({
        rollback: false,
        trustedNow: START + 60 * MINUTE + 5 * DAY,
      });
    });

    it('does not run ahead when a slow clock is corrected after a sync', () => {
      const { clock, idle, time } = setup();
      // 16 hours slow when the signed server time arrives, then set right an hour later.
      clock.advance(-16 * 60 * MINUTE);
      time.observeServerTime(START);
      idle(60 * MINUTE);
      clock.advance(16 * 60 * MINUTE);
      expect(time.observeWallClock()).toMatchObject({
        rollback: false,
        trustedNow: START + 60 * MINUTE,
      });
    });

    it('treats uptime behind its anchor on the same boot as no evidence, not as a crash', () => {
      const { clock, monotonic, time } = setup();
      time.observeWallClock();
      clock.advance(DAY);
      monotonic.setUptime(UPTIME - 60 * MINUTE);
      expect(time.observeWallClock()).toMatchObject({ rollback: false, trustedNow: START + DAY });
      // The next anchor records the odd reading, so later readings are compared with it.
      expect(time.state()).toMatchObject({ anchorUptimeMs: UPTIME - 60 * MINUTE });
      clock.advance(-DAY);
      expect(time.observeWallClock().rollback).toBe(true);
    });

    it('uses the system uptime only beside the system clock', () => {
      expect(defaultMonotonic(systemClock)).toBe(systemMonotonic);
      expect(defaultMonotonic(manualClock(START)).bootId()).toBe(UNKNOWN_BOOT_ID);
      if (process.platform === 'linux') {
        const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
        expect(systemMonotonic.bootId()).toBe(bootId);
        const first = systemMonotonic.uptimeMs();
        expect(first).toBeGreaterThan(0);
        expect(systemMonotonic.uptimeMs()).toBeGreaterThanOrEqual(first);
      }
    });

    it('without a boot id keeps the anchor rule and records no evidence', () => {
      const { clock, store } = setup();
      const unknown = { bootId: () => UNKNOWN_BOOT_ID, uptimeMs: () => 5 * DAY };
      const time = new TrustedTime(store, { monotonic: unknown });
      time.observeWallClock();
      expect(time.state()).toMatchObject({ anchorBootId: null, anchorUptimeMs: null });
      clock.advance(DAY);
      expect(time.trustedNow()).toBe(START + DAY);
    });
  });

  it('rejects a server time that is not an epoch-millisecond integer', () => {
    const { time } = setup();
    expect(() => time.observeServerTime(Number.NaN)).toThrow(RangeError);
    expect(() => time.observeServerTime(-1)).toThrow(RangeError);
  });
});
