import { randomBytes } from 'node:crypto';
import type { Clock } from '@lantern/shared';

/** What a challenge was issued for; verification must present it for the same purpose. */
export type ChallengePurpose =
  | { kind: 'register'; userId: string; sessionId: string }
  | { kind: 'authenticate'; userId?: string };

interface Pending {
  purpose: ChallengePurpose;
  expiresAt: number;
}

export type ChallengeVerdict =
  | { ok: true; purpose: ChallengePurpose }
  | { ok: false; reason: 'unknown' | 'expired' | 'wrong_purpose' };

export interface PasskeyChallengesOptions {
  clock: Clock;
  ttlMs: number;
  /** Pending challenges kept at most; the oldest goes first. 256. */
  capacity?: number;
  random?: (size: number) => Buffer;
}

/**
 * WebAuthn challenges, in memory: issued with a short TTL, consumed on first presentation
 * whatever the outcome, so a captured response can never be replayed. Losing them on a restart
 * only makes a ceremony in flight start over. The cap bounds what a local caller asking for
 * options in a loop can make the daemon hold.
 */
export class PasskeyChallenges {
  private readonly pending = new Map<string, Pending>();
  private readonly capacity: number;
  private readonly random: (size: number) => Buffer;

  constructor(private readonly options: PasskeyChallengesOptions) {
    this.capacity = options.capacity ?? 256;
    this.random = options.random ?? randomBytes;
  }

  /** A fresh base64url challenge of 32 random bytes. */
  issue(purpose: ChallengePurpose): string {
    const now = this.options.clock.now();
    for (const [challenge, entry] of this.pending) {
      if (entry.expiresAt <= now) this.pending.delete(challenge);
    }
    while (this.pending.size >= this.capacity) {
      const oldest = this.pending.keys().next().value;
      if (oldest === undefined) break;
      this.pending.delete(oldest);
    }
    const challenge = this.random(32).toString('base64url');
    this.pending.set(challenge, { purpose, expiresAt: now + this.options.ttlMs });
    return challenge;
  }

  /** Single use: the challenge is gone after this call, even when the answer is a refusal. */
  consume(challenge: string, kind: ChallengePurpose['kind']): ChallengeVerdict {
    const entry = this.pending.get(challenge);
    if (entry === undefined) return { ok: false, reason: 'unknown' };
    this.pending.delete(challenge);
    if (entry.expiresAt <= this.options.clock.now()) return { ok: false, reason: 'expired' };
    if (entry.purpose.kind !== kind) return { ok: false, reason: 'wrong_purpose' };
    return { ok: true, purpose: entry.purpose };
  }
}
