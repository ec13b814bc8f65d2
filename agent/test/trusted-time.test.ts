import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { manualClock } from '@lantern/shared';
import { TrustedTime } from '../src/time/trusted-time.js';
import { useStores } from './support/open-stores.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const openStore = useStores();
const START = Date.UTC(2026, 10, 23, 10);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

function setup(tolerance = 5 * MINUTE) {
  const path = join(tempDir(), 'agent.db');
  const clock = manualClock(START);
  const store = openStore(path, { clock });
  return { path, clock, store, time: new TrustedTime(store, { rollbackToleranceMs: tolerance }) };
}

describe('trusted time', () => {
  it('follows the wall clock before anything was observed', () => {
    const { clock, time } = setup();
    expect(time.trustedNow()).toBe(START);
    clock.advance(MINUTE);
    expect(time.trustedNow()).toBe(START + MINUTE);
    expect(time.state()).toEqual({ markMs: 0, anchorWallMs: 0, source: 'none' });
  });

  it('raises the mark as the wall clock moves forward', () => {
    const { clock, time } = setup();
    expect(time.observeWallClock()).toEqual({
      rollback: false,
      wallClock: START,
      mark: START,
      trustedNow: START,
    });
    clock.advance(3 * DAY);
    expect(time.observeWallClock()).toMatchObject({ rollback: false, mark: START + 3 * DAY });
    expect(time.state()).toEqual({
      markMs: START + 3 * DAY,
      anchorWallMs: START + 3 * DAY,
      source: 'wall_clock',
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
    const { clock, time } = setup();
    time.observeWallClock();
    const serverTime = START + 2 * DAY;
    expect(time.observeServerTime(serverTime)).toEqual({
      markMs: serverTime,
      anchorWallMs: START,
      source: 'server',
    });
    expect(time.trustedNow()).toBe(serverTime);
    clock.advance(MINUTE);
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
    const { clock, time } = setup();
    // The device clock runs an hour behind the CA.
    time.observeServerTime(START + 60 * MINUTE);
    clock.advance(10 * MINUTE);
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

    const reopened = new TrustedTime(openStore(path, { clock }));
    expect(reopened.state()).toEqual({
      markMs: START + DAY,
      anchorWallMs: START,
      source: 'server',
    });
    clock.advance(-DAY);
    expect(reopened.observeWallClock()).toMatchObject({ rollback: true, mark: START + DAY });
  });

  it('rejects a server time that is not an epoch-millisecond integer', () => {
    const { time } = setup();
    expect(() => time.observeServerTime(Number.NaN)).toThrow(RangeError);
    expect(() => time.observeServerTime(-1)).toThrow(RangeError);
  });
});
