import { availableParallelism } from 'node:os';
import { LoginOverloadedError } from '../errors.js';

export interface KdfAdmissionConfig {
  /** Password checks running at once. Default: the cores this process may use. */
  maxInFlight?: number;
  /**
   * Checks waiting for a slot beyond those; any more are refused at once. Default: four per
   * slot and at least 8, so a classroom signing in together waits a few KDF times, not a storm.
   */
  maxWaiting?: number;
  /** What the refusal's `retry-after` says. Default 1 s. */
  retryAfterSeconds?: number;
}

/**
 * Admission control for the login KDF. A KDF run is tens of milliseconds of CPU on libuv's
 * pool; with more of them than cores every accepted login waits behind the others (a 20-login
 * burst on 2 cores took seconds each). Bounding the runs in flight and the queue keeps an accepted
 * login near one KDF time and refuses the excess at once with `login_overloaded` (429), before
 * anything is read or written for it, so a refusal says nothing about the account and counts
 * towards no lockout. Agents treat a 429 as an unreachable CA and sign in offline meanwhile.
 */
export class KdfAdmission {
  private readonly maxInFlight: number;
  private readonly maxWaiting: number;
  private readonly retryAfterSeconds: number;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(config: KdfAdmissionConfig = {}) {
    // The KDF runs on libuv's pool (4 threads unless UV_THREADPOOL_SIZE says otherwise): more in
    // flight than the pool has threads would only queue inside libuv, out of this bound's sight.
    const poolSize = Number(process.env['UV_THREADPOOL_SIZE']) || 4;
    this.maxInFlight = config.maxInFlight ?? Math.min(availableParallelism(), poolSize);
    this.maxWaiting = config.maxWaiting ?? Math.max(8, 4 * this.maxInFlight);
    this.retryAfterSeconds = config.retryAfterSeconds ?? 1;
    if (!(Number.isInteger(this.maxInFlight) && this.maxInFlight >= 1)) {
      throw new RangeError('maxInFlight must be a positive integer');
    }
    if (!(Number.isInteger(this.maxWaiting) && this.maxWaiting >= 0)) {
      throw new RangeError('maxWaiting must be a non-negative integer');
    }
  }

  /** Runs `work` in a slot, waiting for one if the queue has room; otherwise throws. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.inFlight >= this.maxInFlight) {
      if (this.waiting.length >= this.maxWaiting) {
        throw new LoginOverloadedError(undefined, {
          details: { retryAfterSeconds: this.retryAfterSeconds },
        });
      }
      // The slot is handed over by the run that frees it, so inFlight never overshoots.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.inFlight += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight -= 1;
    }
  }
}
