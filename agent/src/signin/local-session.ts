import { mintSessionToken } from '../session-token/mint-session-token.js';
import { SESSION_TOKEN_AUDIENCE } from '../session-token/session-token-claims.js';
import type { BindingFacts } from './binding-facts.js';
import type { OfflineGrant } from './offline-grant.js';
import type { SigninAgent } from './signin-agent.js';
import { statement } from '../store/statements.js';

/** A `sessions` row. */
export interface SessionRecord {
  /** Online: the CA's session id, so a CA-side revocation of it reaches this session too. */
  sessionId: string;
  userId: string;
  grantId: string | null;
  amr: string[];
  offline: boolean;
  nowMs: number;
  /** Epoch seconds. */
  expiresAt: number;
  /** Online: the CA's refresh token, sealed for `sessions/<id>/refresh_sealed`. */
  refreshSealed?: Buffer;
}

export function recordSession(agent: SigninAgent, session: SessionRecord): void {
  statement<[string, string, string | null, number, string, Buffer | null, number, number]>(
    agent.store.db,
    `INSERT INTO sessions (session_id, user_id, grant_id, offline, amr_json, refresh_sealed,
         created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    session.sessionId,
    session.userId,
    session.grantId,
    session.offline ? 1 : 0,
    JSON.stringify(session.amr),
    session.refreshSealed ?? null,
    session.nowMs,
    session.expiresAt * 1000,
  );
}

/**
 * Mints the session token and records the session row, in the caller's transaction: the row,
 * the lockout reset and the outbox events commit together or not at all, and the token is only
 * handed out once they did. `expiresAt` comes from `sessionExpiry`.
 */
export function startLocalSession(
  agent: SigninAgent,
  session: Omit<SessionRecord, 'grantId' | 'userId'> & { facts: BindingFacts; grant: OfflineGrant },
): string {
  const { facts, grant } = session;
  const token = mintSessionToken({
    claims: {
      iss: facts.deviceUri,
      sub: grant.userId,
      aud: SESSION_TOKEN_AUDIENCE,
      sid: session.sessionId,
      grt: grant.grantId,
      grt_iat: grant.issuedAt,
      tenant: facts.tenantId,
      amr: session.amr,
      iat: Math.floor(session.nowMs / 1000),
      exp: session.expiresAt,
    },
    x5c: facts.x5c,
    sign: (data) => agent.deviceKey.sign(data),
  });
  recordSession(agent, { ...session, userId: grant.userId, grantId: grant.grantId });
  return token;
}
