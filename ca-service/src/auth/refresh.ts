import type { SqlDatabase } from '../store/sql-database.js';
import type { CaContext } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import { isDeviceRevoked } from '../devices/devices.js';
import {
  DeviceProofInvalidError,
  DeviceRevokedError,
  RefreshTokenInvalidError,
  RefreshTokenReusedError,
} from '../errors.js';
import {
  deviceKeyThumbprint,
  hashRefreshToken,
  isRefreshTokenShape,
  newRefreshToken,
  signAccessToken,
} from './tokens.js';
import { statement } from '../store/statements.js';
import { SPANS, inSpan } from '../observability/tracing.js';

interface RefreshRow {
  token_hash: string;
  family_id: string;
  session_id: string;
  status: 'active' | 'rotated' | 'revoked';
  expires_at: string;
}

interface SessionRow {
  session_id: string;
  tenant_id: string;
  user_id: string;
  device_id: string | null;
  status: string;
}

export interface RefreshResult {
  tokenType: 'Bearer';
  accessToken: string;
  expiresIn: number;
  refreshToken: string;
  sessionId: string;
}

/** Records a newly issued refresh token (only its hash) as the active one of its family. */
export async function storeRefreshToken(
  db: SqlDatabase,
  issued: {
    token: string;
    familyId: string;
    sessionId: string;
    expiresAt: string;
    createdAt: string;
  },
): Promise<void> {
  await statement(
    db,
    "INSERT INTO refresh_tokens (token_hash, family_id, session_id, status, expires_at, created_at) VALUES (?, ?, ?, 'active', ?, ?)",
  ).run(
    hashRefreshToken(issued.token),
    issued.familyId,
    issued.sessionId,
    issued.expiresAt,
    issued.createdAt,
  );
}

async function revokeFamily(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  familyId: string,
  reason: 'rotation_reuse' | 'logout',
  correlationId: string,
): Promise<void> {
  const sessions = (await statement(
    ctx.store.db,
    "SELECT * FROM sessions WHERE family_id = ? AND status = 'active'",
  ).all(familyId)) as SessionRow[];
  await ctx.store.append(
    sessions.map((session) => ({
      eventType: 'identity.session.revoked',
      eventVersion: 2,
      aggregateId: session.session_id,
      tenantId: session.tenant_id,
      actor: { type: 'user' as const, id: session.user_id },
      correlationId,
      payload: {
        sessionId: session.session_id,
        userId: session.user_id,
        tenantId: session.tenant_id,
        ...(session.device_id === null ? {} : { deviceId: session.device_id }),
        reason,
        at: isoNow(ctx.clock),
      },
    })),
  );
  await statement(
    ctx.store.db,
    "UPDATE refresh_tokens SET status = 'revoked' WHERE family_id = ?",
  ).run(familyId);
}

/**
 * Rotating refresh (docs/architecture.md §4): each token works once. Presenting an already-rotated token
 * means two parties hold the family, so the whole family and its sessions are revoked. A
 * device-bound session refreshes only with a proof from that same device.
 */
export async function refresh(
  ctx: Pick<
    CaContext,
    'auth' | 'clock' | 'logger' | 'metrics' | 'publicUrl' | 'store' | 'tokenKeys'
  >,
  refreshToken: string,
  device: ProvenDevice | undefined,
  correlationId: string,
): Promise<RefreshResult> {
  if (!isRefreshTokenShape(refreshToken)) throw new RefreshTokenInvalidError();
  // Concurrent refreshes share one commit: one fsync per group, not per request.
  const outcome = await ctx.store.groupedTransaction(async () => {
    const row = (await statement(
      ctx.store.db,
      'SELECT * FROM refresh_tokens WHERE token_hash = ?',
    ).get(hashRefreshToken(refreshToken))) as RefreshRow | undefined;
    if (!row) return { error: new RefreshTokenInvalidError() };
    if (row.status === 'rotated') {
      await revokeFamily(ctx, row.family_id, 'rotation_reuse', correlationId);
      ctx.logger.error(
        { event: 'session.rotation_reuse_detected', sessionId: row.session_id },
        'refresh token reused',
      );
      const owner = (await statement(
        ctx.store.db,
        'SELECT tenant_id FROM sessions WHERE session_id = ?',
      ).get(row.session_id)) as { tenant_id: string } | undefined;
      ctx.metrics.rotationReuseDetected.inc({ tenant_id: owner?.tenant_id ?? 'unknown' });
      ctx.metrics.sessionRefresh.inc({ result: 'reused' });
      return {
        error: new RefreshTokenReusedError(),
        reuse: { tenantId: owner?.tenant_id ?? 'unknown', sessionId: row.session_id },
      };
    }
    const session = (await statement(
      ctx.store.db,
      'SELECT * FROM sessions WHERE session_id = ?',
    ).get(row.session_id)) as SessionRow | undefined;
    if (
      row.status !== 'active' ||
      row.expires_at <= isoNow(ctx.clock) ||
      !session ||
      session.status !== 'active'
    ) {
      return { error: new RefreshTokenInvalidError() };
    }
    if (session.device_id !== null && device?.deviceId !== session.device_id) {
      return {
        error: new DeviceProofInvalidError(
          'this session is bound to a device: send a proof from it',
        ),
      };
    }
    // The proof was checked before this unit ran: a revocation committed since still wins.
    if (session.device_id !== null && (await isDeviceRevoked(ctx, session.device_id))) {
      return { error: new DeviceRevokedError() };
    }
    const next = newRefreshToken(row.family_id);
    const expiresAt = new Date(ctx.clock.now() + ctx.auth.refreshTokenSeconds * 1000).toISOString();
    await statement(
      ctx.store.db,
      "UPDATE refresh_tokens SET status = 'rotated' WHERE token_hash = ?",
    ).run(row.token_hash);
    await storeRefreshToken(ctx.store.db, {
      token: next,
      familyId: row.family_id,
      sessionId: row.session_id,
      expiresAt,
      createdAt: isoNow(ctx.clock),
    });
    await ctx.store.append([
      {
        eventType: 'identity.session.refreshed',
        aggregateId: session.session_id,
        tenantId: session.tenant_id,
        actor: { type: 'user', id: session.user_id },
        correlationId,
        payload: { sessionId: session.session_id, familyId: row.family_id, expiresAt },
      },
    ]);
    return { session, next };
  });
  if ('error' in outcome) {
    // Out here, not in the grouped transaction (which may run in another request's turn), so
    // the span is this request's child. The tail sampler keeps every one of them (spec §3.3).
    const { reuse } = outcome;
    if (reuse) {
      inSpan(SPANS.rotationReuse, (span) => {
        span.setAttributes({ tenant_id: reuse.tenantId, session_id: reuse.sessionId });
      });
    }
    if (!(outcome.error instanceof RefreshTokenReusedError))
      ctx.metrics.sessionRefresh.inc({ result: 'invalid' });
    throw outcome.error;
  }
  const { session, next } = outcome;
  ctx.metrics.sessionRefresh.inc({ result: 'success' });
  const access = signAccessToken(ctx, {
    userId: session.user_id,
    tenantId: session.tenant_id,
    sessionId: session.session_id,
    amr: ['pwd'],
    ...(device ? { deviceThumbprint: deviceKeyThumbprint(device) } : {}),
  });
  return {
    tokenType: 'Bearer',
    accessToken: access.token,
    expiresIn: access.expiresIn,
    refreshToken: next,
    sessionId: session.session_id,
  };
}

/** Ends the session the refresh token belongs to; unknown tokens are ignored (nothing to end). */
export async function logout(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  refreshToken: string,
  correlationId: string,
): Promise<void> {
  if (!isRefreshTokenShape(refreshToken)) throw new RefreshTokenInvalidError();
  await ctx.store.transaction(async () => {
    const row = (await statement(
      ctx.store.db,
      'SELECT family_id FROM refresh_tokens WHERE token_hash = ?',
    ).get(hashRefreshToken(refreshToken))) as { family_id: string } | undefined;
    if (row) await revokeFamily(ctx, row.family_id, 'logout', correlationId);
  });
}
