import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { GrantNotFoundError, SessionNotFoundError } from '../errors.js';

/** Ends a session everywhere: its refresh tokens die here, devices learn it from the feed. */
export function revokeSession(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  sessionId: string,
  tenantId: string | null,
  meta: CommandMeta,
) {
  return ctx.store.transaction(async () => {
    const row = (await ctx.store.db
      .prepare('SELECT * FROM sessions WHERE session_id = ?')
      .get(sessionId)) as
      { tenant_id: string; user_id: string; device_id: string | null; status: string } | undefined;
    if (!row || (tenantId !== null && row.tenant_id !== tenantId)) throw new SessionNotFoundError();
    if (row.status === 'active') {
      await ctx.store.append([
        {
          eventType: 'identity.session.revoked',
          eventVersion: 2,
          aggregateId: sessionId,
          tenantId: row.tenant_id,
          ...meta,
          payload: {
            sessionId,
            userId: row.user_id,
            tenantId: row.tenant_id,
            ...(row.device_id === null ? {} : { deviceId: row.device_id }),
            reason: 'admin',
            at: isoNow(ctx.clock),
          },
        },
      ]);
      await ctx.store.db
        .prepare("UPDATE refresh_tokens SET status = 'revoked' WHERE session_id = ?")
        .run(sessionId);
    }
    return { sessionId, status: 'revoked' as const };
  });
}

export function revokeGrant(
  ctx: Pick<CaContext, 'store'>,
  grantId: string,
  tenantId: string | null,
  meta: CommandMeta,
) {
  return ctx.store.transaction(async () => {
    const row = (await ctx.store.db
      .prepare('SELECT * FROM grants WHERE grant_id = ?')
      .get(grantId)) as { tenant_id: string; user_id: string; status: string } | undefined;
    if (!row || (tenantId !== null && row.tenant_id !== tenantId)) throw new GrantNotFoundError();
    if (row.status === 'active') {
      await ctx.store.append([
        {
          eventType: 'identity.grant.revoked',
          aggregateId: grantId,
          tenantId: row.tenant_id,
          ...meta,
          payload: { grantId, userId: row.user_id, reason: 'admin' },
        },
      ]);
    }
    return { grantId, status: 'revoked' as const };
  });
}
