import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { SelfServiceTokenInvalidError } from '../errors.js';
import { findUserById } from '../users/users.js';
import type { SelfServiceLink } from './password-reset.js';
import { usersWithEmail } from './password-reset.js';
import {
  TOKEN_TTL_SECONDS,
  consumeToken,
  findUsableToken,
  issuedRecently,
  newToken,
  storeToken,
} from './self-service-tokens.js';

/**
 * Issues a verification token for each account of this address in the tenant and records
 * `identity.user.email_verification_requested`. Unknown addresses yield nothing, silently.
 */
export function requestEmailVerification(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  input: { tenant: string; email: string },
  meta: CommandMeta,
): Promise<SelfServiceLink[]> {
  return ctx.store.transaction(async () => {
    const now = isoNow(ctx.clock);
    const expiresAt = new Date(
      ctx.clock.now() + TOKEN_TTL_SECONDS.email_verification * 1000,
    ).toISOString();
    const links: SelfServiceLink[] = [];
    for (const user of await usersWithEmail(ctx, input.tenant, input.email)) {
      if (await issuedRecently(ctx.store.db, user.user_id, 'email_verification', ctx.clock.now())) {
        continue;
      }
      const issued = newToken();
      const to = user.email ?? input.email;
      await storeToken(ctx.store.db, issued, {
        purpose: 'email_verification',
        tenant_id: user.tenant_id,
        user_id: user.user_id,
        email: to,
        created_at: now,
        expires_at: expiresAt,
      });
      await ctx.store.append([
        {
          eventType: 'identity.user.email_verification_requested',
          aggregateId: user.user_id,
          tenantId: user.tenant_id,
          ...meta,
          payload: {
            userId: user.user_id,
            tokenHash: issued.secretHash,
            requestedAt: now,
            expiresAt,
          },
        },
      ]);
      links.push({ to, username: user.username, token: issued.token, expiresAt });
    }
    return links;
  });
}

/**
 * Confirms the address the token was mailed to, once, and records `identity.user.email_verified`
 * (a pending account becomes active). A token for an address the user has since changed proves
 * nothing about the new one and is refused.
 */
export function verifyEmail(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  token: string,
  correlationId: string,
): Promise<{ userId: string; verifiedAt: string }> {
  return ctx.store.transaction(async () => {
    const now = isoNow(ctx.clock);
    const row = await findUsableToken(ctx.store.db, token, 'email_verification', now);
    if (!row) throw new SelfServiceTokenInvalidError();
    const user = await findUserById(ctx.store.db, row.user_id);
    if (
      !user ||
      user.email?.toLowerCase() !== row.email.toLowerCase() ||
      (user.status !== 'active' && user.status !== 'pending_verification') ||
      !(await consumeToken(ctx.store.db, row.token_id, now))
    )
      throw new SelfServiceTokenInvalidError();
    await ctx.store.append([
      {
        eventType: 'identity.user.email_verified',
        aggregateId: user.user_id,
        tenantId: user.tenant_id,
        actor: { type: 'user', id: user.user_id },
        correlationId,
        payload: { userId: user.user_id, verifiedAt: now },
      },
    ]);
    return { userId: user.user_id, verifiedAt: now };
  });
}
