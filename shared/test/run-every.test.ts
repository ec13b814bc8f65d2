import { describe, expect, it } from 'vitest';
import { runEvery } from '../src/clock/run-every.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('runEvery', () => {
  it('never starts a run while one is under way, and stop waits for it', async () => {
    let running = 0;
    let most = 0;
    let finished = 0;
    const repeating = runEvery(5, async () => {
      running += 1;
      most = Math.max(most, running);
      await sleep(40);
      running -= 1;
      finished += 1;
    });
    await sleep(20);
    await repeating.stop();
    expect(most).toBe(1);
    expect(running).toBe(0);
    expect(finished).toBe(1);
    await sleep(30);
    expect(finished).toBe(1);
  });

  it('drops a failure its work let through instead of leaving it unhandled', async () => {
    let runs = 0;
    const repeating = runEvery(5, () => {
      runs += 1;
      return Promise.reject(new Error('store down'));
    });
    await sleep(30);
    await repeating.stop();
    expect(runs).toBeGreaterThan(1);
  });
});
