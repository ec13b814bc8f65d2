import type { CaContext, CommandMeta } from '../context/ca-context.js';
import type { SqlDatabase } from '../store/sql-database.js';
import { isoNow } from '../context/ca-context.js';
import { SelfServiceTokenInvalidError, UserEmailMissingError } from '../errors.js';
import { findTenant } from '../tenants/tenant-commands.js';
import {
  acceptableSecret,
  activeUsersWithEmail,
  endUserSessions,
  findUserById,
  getUser,
  setPasswordHash,
} from '../users/users.js';
import type { UserRow } from '../users/users.js';
import {
  TOKEN_TTL_SECONDS,
  consumeToken,
  findUsableToken,
  issuedRecently,
  newToken,
  storeToken,
} from './self-service-tokens.js';

/** A link to mail: one per account, since siblings may share a parent's address. */
export interface SelfServiceLink {
  to: string;
  username: string;
  token: string;
  expiresAt: string;
}

/** Accounts that one address may reach; a handful is plenty, the rest is abuse. */
const MAX_ACCOUNTS_PER_ADDRESS = 5;

export async function usersWithEmail(
  ctx: Pick<CaContext, 'store'>,
  tenant: string,
  email: string,
): Promise<UserRow[]> {
  const tenantId = (await findTenant(ctx.store.db, tenant))?.tenantId;
  if (tenantId === undefined) return [];
  return activeUsersWithEmail(ctx.store.db, tenantId, email, MAX_ACCOUNTS_PER_ADDRESS);
}

/** One reset token for one account, recorded as `identity.password.reset_requested`. */
async function issueReset(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  user: UserRow & { email: string },
  request: { channel: 'email' | 'admin'; ip: string; ua: string },
  meta: CommandMeta,
): Promise<SelfServiceLink> {
  const now = isoNow(ctx.clock);
  const expiresAt = new Date(
    ctx.clock.now() + TOKEN_TTL_SECONDS.password_reset * 1000,
  ).toISOString();
  const issued = newToken();
  await storeToken(ctx.store.db, issued, {
    purpose: 'password_reset',
    tenant_id: user.tenant_id,
    user_id: user.user_id,
    email: user.email,
    created_at: now,
    expires_at: expiresAt,
  });
  await ctx.store.append([
    {
      eventType: 'identity.password.reset_requested',
      eventVersion: 2,
      aggregateId: user.user_id,
      tenantId: user.tenant_id,
      ...meta,
      payload: {
        userId: user.user_id,
        channel: request.channel,
        resetTokenHash: issued.secretHash,
        ip: request.ip.slice(0, 45),
        ua: request.ua.slice(0, 512),
        requestedAt: now,
        expiresAt,
      },
    },
  ]);
  return { to: user.email, username: user.username, token: issued.token, expiresAt };
}

/**
 * Issues a reset token for every account of this address in the tenant and records
 * `identity.password.reset_requested` (with the token's hash, never the token). An unknown
 * tenant or address yields no links and no error: the caller answers the same either way.
 */
export function requestPasswordReset(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  input: { tenant: string; email: string; ip: string; ua: string },
  meta: CommandMeta,
): Promise<SelfServiceLink[]> {
  return ctx.store.transaction(async () => {
    const links: SelfServiceLink[] = [];
    for (const user of await usersWithEmail(ctx, input.tenant, input.email)) {
      if (await issuedRecently(ctx.store.db, user.user_id, 'password_reset', ctx.clock.now())) {
        continue;
      }
      links.push(
        await issueReset(
          ctx,
          { ...user, email: user.email ?? input.email },
          { channel: 'email', ip: input.ip, ua: input.ua },
          meta,
        ),
      );
    }
    return links;
  });
}

/**
 * An admin sends a user a reset link instead of choosing their password (channel `admin`): the
 * admin never learns the new password. The user needs an email address on record.
 */
export function sendResetLink(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  input: { userId: string; tenantId: string | null; ip: string; ua: string },
  meta: CommandMeta,
): Promise<SelfServiceLink> {
  return ctx.store.transaction(async () => {
    const user = await getUser(ctx, input.userId, input.tenantId);
    if (user.email === null) throw new UserEmailMissingError();
    if (user.status !== 'active' && user.status !== 'pending_verification')
      throw new UserEmailMissingError('the account is suspended; reactivate it first');
    return issueReset(
      ctx,
      { ...user, email: user.email },
      { channel: 'admin', ip: input.ip, ua: input.ua },
      meta,
    );
  });
}

/**
 * Sets the new password once per token and ends the user's sessions, refresh families and
 * grants, as an admin's reset for a leaked password would: whoever knew the old one is out, on
 * every device at its next sync.
 */
export async function completePasswordReset(
  ctx: Pick<CaContext, 'clock' | 'passwords' | 'store'>,
  input: { token: string; password: string },
  correlationId: string,
): Promise<{ userId: string; sessionsRevoked: number }> {
  // Checked before hashing, so a guessed token costs no memory-hard hash.
  const row = await findUsableToken(ctx.store.db, input.token, 'password_reset', isoNow(ctx.clock));
  if (!row) throw new SelfServiceTokenInvalidError();
  const user = await resettableUser(ctx.store.db, row.user_id, row.email);
  const kind = await acceptableSecret(ctx.store, user.tenant_id, user.role, input.password);
  const hash = await ctx.passwords.hash(input.password);
  return ctx.store.transaction(async () => {
    const now = isoNow(ctx.clock);
    // Again inside the transaction: of two racing completions, one wins.
    if (!(await findUsableToken(ctx.store.db, input.token, 'password_reset', now)))
      throw new SelfServiceTokenInvalidError();
    if (!(await consumeToken(ctx.store.db, row.token_id, now)))
      throw new SelfServiceTokenInvalidError();
    // And the account: suspended, erased or given another address while the password was hashed.
    await resettableUser(ctx.store.db, row.user_id, row.email);
    const meta = { actor: { type: 'user' as const, id: user.user_id }, correlationId };
    const base = { aggregateId: user.user_id, tenantId: user.tenant_id, ...meta };
    await ctx.store.append([
      {
        ...base,
        eventType: 'identity.user.password_set',
        payload: { userId: user.user_id, kind, reason: 'user_change' },
      },
    ]);
    await setPasswordHash(ctx.store.db, user.user_id, hash, now);
    const sessionsRevoked = await endUserSessions(
      ctx,
      user.user_id,
      user.tenant_id,
      'password_reset',
      meta,
    );
    await ctx.store.append([
      {
        ...base,
        eventType: 'identity.password.reset_completed',
        payload: {
          userId: user.user_id,
          resetTokenHash: row.secret_hash,
          sessionsRevoked,
          completedAt: now,
        },
      },
    ]);
    return { userId: user.user_id, sessionsRevoked };
  });
}

/**
 * The account a reset link may set a password for. The link proves control of the address it was
 * mailed to: once the account has another (an admin corrected it), the old mailbox no longer
 * speaks for the account.
 */
async function resettableUser(db: SqlDatabase, userId: string, mailedTo: string): Promise<UserRow> {
  const user = await findUserById(db, userId);
  if (
    !user ||
    (user.status !== 'active' && user.status !== 'pending_verification') ||
    user.email?.toLowerCase() !== mailedTo.toLowerCase()
  )
    throw new SelfServiceTokenInvalidError();
  return user;
}
