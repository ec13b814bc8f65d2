import type { CaContext } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { WebAuthnChallengeInvalidError, WebAuthnResponseInvalidError } from '../errors.js';

/**
 * Challenges live in SQLite, not in memory: several CA instances on one database must accept an
 * answer to a challenge another one handed out, and a challenge must be usable exactly once
 * across them (the DELETE that takes it is the single-use check). Nothing needs to survive a
 * restart; expired rows are purged whenever a new challenge is stored.
 */
export const CHALLENGE_TTL_SECONDS = 120;
/** Browser-side ceremony timeout, shorter than the TTL so an answer in time is never expired. */
export const CEREMONY_TIMEOUT_MS = 60_000;

export type ChallengePurpose = 'register' | 'authenticate';

export interface ChallengeRow {
  challenge: string;
  purpose: ChallengePurpose;
  tenant_id: string;
  user_id: string | null;
  expires_at: string;
}

export async function storeChallenge(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  challenge: string,
  purpose: ChallengePurpose,
  tenantId: string,
  userId: string | null,
): Promise<void> {
  const now = isoNow(ctx.clock);
  const expiresAt = new Date(ctx.clock.now() + CHALLENGE_TTL_SECONDS * 1000).toISOString();
  await ctx.store.transaction(async () => {
    await ctx.store.db.prepare('DELETE FROM webauthn_challenges WHERE expires_at <= ?').run(now);
    await ctx.store.db
      .prepare(
        'INSERT INTO webauthn_challenges (challenge, purpose, tenant_id, user_id, expires_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(challenge, purpose, tenantId, userId, expiresAt);
  });
}

/** The challenge a response answers, read from its clientDataJSON; malformed data throws. */
export function challengeOf(clientDataJSON: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8'));
  } catch {
    throw new WebAuthnResponseInvalidError('clientDataJSON is not base64url-encoded JSON');
  }
  const challenge = (parsed as { challenge?: unknown } | null)?.challenge;
  if (typeof challenge !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(challenge)) {
    throw new WebAuthnResponseInvalidError('clientDataJSON carries no challenge');
  }
  return challenge;
}

/** Takes the challenge out for good, whether or not the response then verifies. */
export async function consumeChallenge(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  challenge: string,
  purpose: ChallengePurpose,
): Promise<ChallengeRow> {
  const row = (await ctx.store.db
    .prepare('DELETE FROM webauthn_challenges WHERE challenge = ? RETURNING *')
    .get(challenge)) as ChallengeRow | undefined;
  if (row === undefined || row.purpose !== purpose || row.expires_at <= isoNow(ctx.clock)) {
    throw new WebAuthnChallengeInvalidError();
  }
  return row;
}
