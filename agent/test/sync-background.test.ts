import { afterEach, describe, expect, it } from 'vitest';
import type { SyncRunner, SchedulerTimers } from '../src/daemon/background-sync.js';
import { BackgroundSync } from '../src/daemon/background-sync.js';
import type { SyncFailure, SyncRunOutcome } from '../src/sync/sync-client.js';
import { Backoff } from '../src/sync/backoff.js';
import { SyncClient } from '../src/sync/sync-client.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import type { TestAgent } from './support/sync-fixture.js';
import { caEventsOf, enrolledAgent } from './support/sync-fixture.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();

/** SchedulerTimers driven by hand: `fire()` runs the one pending callback and reports its delay. */
function manualTimers() {
  let pending: { callback: () => void; ms: number } | null = null;
  const timers: SchedulerTimers = {
    set: (callback, ms) => {
      pending = { callback, ms };
      return pending;
    },
    clear: (handle) => {
      if (handle === pending) pending = null;
    },
  };
  return {
    timers,
    pendingDelay: () => pending?.ms ?? null,
    fire: () => {
      const due = pending;
      pending = null;
      due?.callback();
      return due?.ms ?? null;
    },
  };
}

function outcome(lastFailure: SyncFailure | null = null): SyncRunOutcome {
  return {
    rounds: 1,
    pushed: 0,
    acked: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    quarantined: 0,
    pagesApplied: 1,
    revocationsApplied: 0,
    sessionsEnded: 0,
    grantsDropped: 0,
    completed: lastFailure === null,
    failures: lastFailure === null ? 0 : 1,
    lastFailure,
    stalled: false,
    cursor: 0,
    pending: 0,
    device: { revoked: false },
  };
}

const unreachable: SyncFailure = { reason: 'unreachable', detail: 'offline', retryable: true };
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A runner whose runs finish when the test says so, counting overlap. */
function scriptedRunner(results: SyncRunOutcome[], probes: boolean[] = []) {
  let active = 0;
  const state = { runs: 0, maxActive: 0, probes: 0, release: [] as (() => void)[] };
  const runner: SyncRunner = {
    run: async () => {
      state.runs += 1;
      active += 1;
      state.maxActive = Math.max(state.maxActive, active);
      await new Promise<void>((resolve) => state.release.push(resolve));
      active -= 1;
      return results.shift() ?? outcome();
    },
    probe: async () => {
      state.probes += 1;
      return probes.shift() ?? true;
    },
  };
  const finishRun = async () => {
    await settle();
    state.release.shift()?.();
    await settle();
  };
  return { runner, state, finishRun };
}

describe('background sync scheduler', () => {
  it('runs on start, then on the interval; a trigger during a run adds exactly one run after it', async () => {
    const clock = manualTimers();
    const { runner, state, finishRun } = scriptedRunner([]);
    const scheduler = new BackgroundSync({ runner, intervalMs: 60_000, timers: clock.timers });
    scheduler.start();
    await settle();
    expect(state.runs).toBe(1);

    const covered = [scheduler.trigger(), scheduler.trigger(), scheduler.trigger()];
    await finishRun();
    expect(state.runs).toBe(2);
    await finishRun();
    await Promise.all(covered);
    expect(state.runs).toBe(2);
    expect(state.maxActive).toBe(1);
    expect(clock.pendingDelay()).toBe(60_000);

    clock.fire();
    await settle();
    expect(state.runs).toBe(3);
    await finishRun();
    await scheduler.stop();
    expect(clock.pendingDelay()).toBeNull();
  });

  it('after a run that could not reach the CA, probes with backoff and syncs when a probe answers', async () => {
    const clock = manualTimers();
    const { runner, state, finishRun } = scriptedRunner(
      [outcome(unreachable)],
      [false, false, true],
    );
    const scheduler = new BackgroundSync({
      runner,
      intervalMs: 60_000,
      probeBaseMs: 1_000,
      random: () => 1,
      timers: clock.timers,
    });
    scheduler.start();
    await finishRun();
    const delays = [clock.fire()];
    await settle();
    delays.push(clock.fire());
    await settle();
    delays.push(clock.fire());
    await settle();
    expect(delays).toEqual([1_000, 2_000, 4_000]);
    expect(state.probes).toBe(3);
    expect(state.runs).toBe(2);
    await finishRun();
    // Back online: the interval again.
    expect(clock.pendingDelay()).toBe(60_000);
    await scheduler.stop();
  });

  it('stops scheduling once the device is wiped', async () => {
    const clock = manualTimers();
    const wiped = {
      ...outcome(),
      device: { revoked: true as const, revokedAt: 1, reason: 'lost', keysDestroyedAt: 2 },
    };
    const { runner, finishRun } = scriptedRunner([wiped]);
    const scheduler = new BackgroundSync({ runner, timers: clock.timers });
    scheduler.start();
    await finishRun();
    expect(clock.pendingDelay()).toBeNull();
    await scheduler.stop();
  });
});

describe('Backoff', () => {
  it('doubles its bound per failure up to the cap and draws the delay from its upper half', () => {
    const at = (random: number) => new Backoff({ baseMs: 1_000, maxMs: 30_000 }, () => random);
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => at(1).delayMs(n))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
    expect([1, 2, 3, 4, 5, 6].map((n) => at(0).delayMs(n))).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 15_000,
    ]);
    const spread = new Set(Array.from({ length: 50 }, () => new Backoff().delayMs(3)));
    expect(spread.size).toBeGreaterThan(40);
    for (const delay of spread) expect(delay).toBeGreaterThanOrEqual(2_000);
    for (const delay of spread) expect(delay).toBeLessThanOrEqual(4_000);
  });
});

describe('background sync against a real CA', () => {
  let ca: TestCa | undefined;
  let agent: TestAgent | undefined;
  afterEach(async () => {
    agent?.close();
    await ca?.close();
  });

  it('hands the outbox over as soon as connectivity returns', async () => {
    ca = await startTestCa({ now: Date.now() });
    const caUrl = await ca.app.listen({ port: 0, host: '127.0.0.1' });
    const tenantId = await createTenant(ca, 'Hillside');
    agent = await enrolledAgent(ca, caUrl, tenantId, tempDir());
    agent.fill(50);
    let online = false;
    const client = new SyncClient({
      agent,
      outbox: agent.outbox,
      sleep: async () => {},
      fetch: async (input, init) => {
        if (!online) throw new TypeError('fetch failed', { cause: new Error('ENETUNREACH') });
        return fetch(input, init);
      },
    });
    const runs: SyncRunOutcome[] = [];
    const scheduler = new BackgroundSync({
      runner: { run: () => client.run({ maxConsecutiveFailures: 1 }), probe: () => client.probe() },
      intervalMs: 10_000,
      probeBaseMs: 20,
      onRun: (run) => runs.push(run),
    });
    scheduler.start();
    await waitFor(() => runs.length === 1);
    expect(runs[0]).toMatchObject({ completed: false, lastFailure: { reason: 'unreachable' } });
    expect(agent.outbox.depth()).toBe(50);

    online = true;
    await waitFor(() => runs.length === 2);
    expect(runs[1]).toMatchObject({ completed: true, acked: 50 });
    expect(await caEventsOf(ca, agent.binding.deviceId)).toEqual({ rows: 50, distinct: 50 });

    // A sign-in recorded more: trigger() hands it over without waiting for the interval.
    agent.fill(3);
    await scheduler.trigger();
    expect(runs[2]).toMatchObject({ completed: true, acked: 3 });
    await scheduler.stop();
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
