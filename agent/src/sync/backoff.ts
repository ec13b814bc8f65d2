export interface BackoffPolicy {
  /** Delay bound after the first failure. */
  baseMs: number;
  /** No delay exceeds this, however many failures in a row. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 60_000 };

/**
 * Exponential backoff with "equal jitter": after the n-th failure in a row the bound is
 * base · 2^(n-1) (capped), and the delay is drawn from [bound/2, bound]. The lower half keeps
 * the delay growing for sure, so a flapping CA is not hammered; the random half spreads the
 * devices of a school that lost its uplink together, so they do not all come back at once.
 */
export class Backoff {
  private readonly policy: BackoffPolicy;

  constructor(
    policy: Partial<BackoffPolicy> = {},
    private readonly random: () => number = Math.random,
  ) {
    this.policy = { ...DEFAULT_BACKOFF, ...policy };
    if (!(this.policy.baseMs > 0) || !(this.policy.maxMs >= this.policy.baseMs)) {
      throw new RangeError('backoff needs 0 < baseMs <= maxMs');
    }
  }

  /** Delay before the next attempt after `failures` (≥ 1) failures in a row. */
  delayMs(failures: number): number {
    const exponent = Math.min(Math.max(failures, 1) - 1, 30);
    const bound = Math.min(this.policy.maxMs, this.policy.baseMs * 2 ** exponent);
    const unit = Math.min(Math.max(this.random(), 0), 1);
    return Math.round(bound / 2 + (bound / 2) * unit);
  }
}
