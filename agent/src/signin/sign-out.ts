import { readDeviceBinding } from '../enrollment/device-binding.js';
import { SealedDataInvalidError } from '../errors.js';
import { callCa } from './ca-call.js';
import { sealedColumn } from '../keys/sealed-columns.js';
import type { SigninAgent } from './signin-agent.js';
import { DEFAULT_SIGNIN_TIMEOUT_MS } from './signin-agent.js';

export type SignoutVerdict =
  | { ok: true; sessionId: string; endedAt: number; alreadyEnded: boolean }
  | { ok: false; reason: 'unknown_session' };

interface SessionRow {
  userId: string;
  offline: number;
  refreshSealed: Buffer | null;
  endedAt: number | null;
}

/**
 * Ends a session here: its tokens stop verifying at once (the verifier reads the row). For a
 * session started online the CA is told too (its refresh token family dies); when it cannot
 * be, and for offline sessions, `identity.session.revoked` goes to the outbox instead so the
 * CA learns on the next sync. Signing out twice is not an error.
 */
export async function signOut(
  agent: SigninAgent,
  sessionId: string,
  options: { caTimeoutMs?: number } = {},
): Promise<SignoutVerdict> {
  const row = agent.store.db
    .prepare<[string], SessionRow>(
      `SELECT user_id AS userId, offline, refresh_sealed AS refreshSealed, ended_at AS endedAt
       FROM sessions WHERE session_id = ?`,
    )
    .get(sessionId);
  if (!row) return { ok: false, reason: 'unknown_session' };
  if (row.endedAt !== null) {
    return { ok: true, sessionId, endedAt: row.endedAt, alreadyEnded: true };
  }
  const toldCa =
    row.offline === 0 && row.refreshSealed !== null
      ? await logoutAtCa(agent, sessionId, row.refreshSealed, options.caTimeoutMs)
      : false;
  const endedAt = agent.trustedTime.trustedNow();
  return agent.store.transaction(() => {
    const { changes } = agent.store.db
      .prepare<[number, string]>(
        `UPDATE sessions SET ended_at = ?, end_reason = 'logout', refresh_sealed = NULL
         WHERE session_id = ? AND ended_at IS NULL`,
      )
      .run(endedAt, sessionId);
    if (changes === 0) return { ok: true, sessionId, endedAt, alreadyEnded: true };
    if (!toldCa) {
      const { tenantId, deviceId } = agent.outbox.recordedFor;
      agent.outbox.append({
        eventType: 'identity.session.revoked',
        eventVersion: 2,
        actor: { type: 'user', id: row.userId },
        payload: {
          sessionId,
          userId: row.userId,
          tenantId,
          deviceId,
          reason: 'logout',
          at: new Date(endedAt).toISOString(),
        },
      });
    }
    return { ok: true, sessionId, endedAt, alreadyEnded: false };
  });
}

async function logoutAtCa(
  agent: SigninAgent,
  sessionId: string,
  refreshSealed: Buffer,
  timeoutMs = DEFAULT_SIGNIN_TIMEOUT_MS,
): Promise<boolean> {
  const binding = readDeviceBinding(agent.store);
  if (binding === null) return false;
  let refreshToken: string;
  try {
    refreshToken = agent.dataKey
      .open(refreshSealed, sealedColumn.refreshToken(sessionId))
      .toString();
  } catch (error) {
    // Unreadable here means unusable by anyone: the outbox event still tells the CA.
    if (error instanceof SealedDataInvalidError) return false;
    throw error;
  }
  const call = await callCa(
    `${binding.caUrl}/v1/auth/logout`,
    { method: 'POST', body: JSON.stringify({ refreshToken }) },
    timeoutMs,
  );
  return call.kind === 'answered' && call.status === 204;
}
