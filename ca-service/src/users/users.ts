import type { SqlDatabase } from '../store/sql-database.js';
import { activeGrantsOfUser } from '../auth/grant-queries.js';
import { activeSessionsOfUser, revokeRefreshTokensOfUser } from '../auth/session-queries.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { CredentialRejectedError, UserExistsError, UserNotFoundError } from '../errors.js';
import { acceptedInvitationIds } from '../members/invitation-queries.js';
import { pinPolicy } from '../passwords/credential-policy.js';
import type { EventStore } from '../store/event-store.js';
import { tenantPasswordCheck } from '../tenants/tenant-password-policy.js';
import { getTenant } from '../tenants/tenant-commands.js';
import { statement } from '../store/statements.js';
import { forgetPersonalData, sealPersonalData } from './personal-data.js';

export const ROLES = ['learner', 'teacher', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface UserView {
  userId: string;
  tenantId: string;
  username: string;
  role: Role;
  email: string | null;
  displayName: string | null;
  status: 'active' | 'pending_verification' | 'suspended' | 'erased';
  lockedUntil: string | null;
  createdAt: string;
}

export interface UserRow {
  user_id: string;
  tenant_id: string;
  username: string;
  role: Role;
  email: string | null;
  display_name: string | null;
  status: UserView['status'];
  locked_until: string | null;
  failure_count: number;
  failure_window_start: string | null;
  created_at: string;
}

export const toUserView = (row: UserRow): UserView => ({
  userId: row.user_id,
  tenantId: row.tenant_id,
  username: row.username,
  role: row.role,
  email: row.email,
  displayName: row.display_name,
  status: row.status,
  lockedUntil: row.locked_until,
  createdAt: row.created_at,
});

export async function findUserByName(
  db: SqlDatabase,
  tenantId: string,
  username: string,
): Promise<UserRow | undefined> {
  return (await db
    .prepare('SELECT * FROM users WHERE tenant_id = ? AND username = ?')
    .get(tenantId, username)) as UserRow | undefined;
}

/** The row as stored, erased users included: callers judge status and tenant themselves. */
export async function findUserById(db: SqlDatabase, userId: string): Promise<UserRow | undefined> {
  return (await statement(db, 'SELECT * FROM users WHERE user_id = ?').get(userId)) as
    UserRow | undefined;
}

/** Whether the user exists in this tenant (erased or not): the sync ingest asks per event. */
export async function userInTenant(
  db: SqlDatabase,
  userId: string,
  tenantId: string,
): Promise<boolean> {
  return (
    (await statement(db, 'SELECT 1 FROM users WHERE user_id = ? AND tenant_id = ?').get(
      userId,
      tenantId,
    )) !== undefined
  );
}

/** The tenant's users with this address (case-insensitive) that are not erased. */
export async function unerasedUsersWithEmail(
  db: SqlDatabase,
  tenantId: string,
  email: string,
): Promise<UserRow[]> {
  return (await statement(
    db,
    `SELECT * FROM users WHERE tenant_id = ? AND lower(email) = lower(?) AND status != 'erased'`,
  ).all(tenantId, email)) as UserRow[];
}

/** The first `limit` users by username with this address who may sign in or are about to. */
export async function activeUsersWithEmail(
  db: SqlDatabase,
  tenantId: string,
  email: string,
  limit: number,
): Promise<UserRow[]> {
  return (await statement(
    db,
    `SELECT * FROM users WHERE tenant_id = ? AND lower(email) = lower(?)
     AND status IN ('active', 'pending_verification') ORDER BY username LIMIT ?`,
  ).all(tenantId, email, limit)) as UserRow[];
}

export type UserName = Pick<UserRow, 'user_id' | 'username' | 'status'>;

/** Those of these users that exist, in username order: one query for a whole list. */
export async function userNames(db: SqlDatabase, userIds: readonly string[]): Promise<UserName[]> {
  return (await statement(
    db,
    `SELECT user_id, username, status FROM users
     WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY username`,
  ).all(JSON.stringify(userIds))) as UserName[];
}

/** Every active user with their tenant, for the metrics scraped per tenant. */
export async function activeUsers(
  db: SqlDatabase,
): Promise<{ userId: string; tenantId: string }[]> {
  return (await statement(
    db,
    `SELECT user_id AS "userId", tenant_id AS "tenantId" FROM users WHERE status = 'active'`,
  ).all()) as { userId: string; tenantId: string }[];
}

/** The user's password (or PIN) hash; undefined for an account without one. */
export async function passwordHash(db: SqlDatabase, userId: string): Promise<string | undefined> {
  const row = (await statement(
    db,
    "SELECT hash FROM credentials WHERE user_id = ? AND kind = 'password'",
  ).get(userId)) as { hash: string } | undefined;
  return row?.hash;
}

/** Sets the user's password (or PIN) hash, replacing any earlier one. */
export async function setPasswordHash(
  db: SqlDatabase,
  userId: string,
  hash: string,
  at: string,
): Promise<void> {
  await statement(
    db,
    `INSERT INTO credentials (user_id, kind, hash, updated_at) VALUES (?, 'password', ?, ?)
     ON CONFLICT (user_id, kind) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`,
  ).run(userId, hash, at);
}

/** Replaces the hash only while it is still `current` (true if it did): a secret set meanwhile stays. */
export async function replacePasswordHash(
  db: SqlDatabase,
  userId: string,
  current: string,
  hash: string,
  at: string,
): Promise<boolean> {
  return (
    (
      await statement(
        db,
        "UPDATE credentials SET hash = ?, updated_at = ? WHERE user_id = ? AND kind = 'password' AND hash = ?",
      ).run(hash, at, userId, current)
    ).changes === 1
  );
}

/** A user of another tenant is not found: tenants never learn of each other's users. */
export async function getUser(
  ctx: Pick<CaContext, 'store'>,
  userId: string,
  tenantId: string | null,
): Promise<UserRow> {
  const row = await findUserById(ctx.store.db, userId);
  if (!row || row.status === 'erased' || (tenantId !== null && row.tenant_id !== tenantId))
    throw new UserNotFoundError();
  return row;
}

export async function listUsers(
  ctx: Pick<CaContext, 'store'>,
  tenantId: string,
): Promise<UserView[]> {
  return (
    (await ctx.store.db
      .prepare(
        "SELECT * FROM users WHERE tenant_id = ? AND status != 'erased' ORDER BY username LIMIT 5000",
      )
      .all(tenantId)) as UserRow[]
  ).map(toUserView);
}

/** Learners may have a PIN (digits) instead of a password; each kind has its own policy. */
export function credentialKind(role: Role, secret: string): 'password' | 'pin' {
  return role === 'learner' && /^\d+$/.test(secret) ? 'pin' : 'password';
}

/**
 * The kind of `secret` for a user of `role`, once it meets that kind's policy: a learner's PIN
 * the PIN rules, any password the tenant's password policy. `credential_rejected` otherwise.
 */
export async function acceptableSecret(
  store: EventStore,
  tenantId: string,
  role: Role,
  secret: string,
): Promise<'password' | 'pin'> {
  const kind = credentialKind(role, secret);
  const policy = kind === 'pin' ? pinPolicy() : await tenantPasswordCheck(store, tenantId);
  const verdict = policy.check(secret);
  if (!verdict.ok)
    throw new CredentialRejectedError(
      `the ${kind} is not acceptable: ${verdict.reason.replaceAll('_', ' ')}`,
    );
  return kind;
}

export async function registerUser(
  ctx: Pick<CaContext, 'clock' | 'ids' | 'passwords' | 'store'>,
  input: {
    tenant: string;
    username: string;
    role: Role;
    password: string;
    email?: string;
    displayName?: string;
  },
  meta: CommandMeta,
): Promise<UserView> {
  const tenant = await getTenant(ctx.store.db, input.tenant);
  const kind = await acceptableSecret(ctx.store, tenant.tenantId, input.role, input.password);
  const hash = await ctx.passwords.hash(input.password);
  return ctx.store.transaction(async () => {
    if (await findUserByName(ctx.store.db, tenant.tenantId, input.username)) {
      throw new UserExistsError(`"${input.username}" already exists in this tenant`);
    }
    const userId = ctx.ids.next('usr');
    const base = { aggregateId: userId, tenantId: tenant.tenantId, ...meta };
    await ctx.store.append([
      {
        ...base,
        eventType: 'identity.user.registered',
        eventVersion: 3,
        expectedVersion: 0,
        payload: {
          userId,
          role: input.role,
          status: 'active',
          emailVerified: false,
          homeTenantId: tenant.tenantId,
          registrationSource: 'admin',
          createdAt: isoNow(ctx.clock),
          personalData: await sealPersonalData(
            ctx.store.db,
            userId,
            {
              username: input.username,
              ...(input.email === undefined ? {} : { email: input.email }),
              ...(input.displayName === undefined ? {} : { displayName: input.displayName }),
            },
            isoNow(ctx.clock),
          ),
        },
      },
      {
        ...base,
        eventType: 'identity.user.password_set',
        payload: { userId, kind, reason: 'registration' },
      },
    ]);
    await ctx.store.db
      .prepare('INSERT INTO credentials (user_id, kind, hash, updated_at) VALUES (?, ?, ?, ?)')
      .run(userId, 'password', hash, isoNow(ctx.clock));
    return toUserView(await getUser(ctx, userId, null));
  });
}

export type UserAction = 'lock' | 'unlock' | 'suspend' | 'reactivate' | 'erase';

/** Admin actions on a user. Lock, suspend and erase revoke: the feed tells every device. */
export function applyUserAction(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  input: { userId: string; tenantId: string | null; action: UserAction; reason?: string },
  meta: CommandMeta,
): Promise<UserView> {
  return ctx.store.transaction(async () => {
    const user = await getUser(ctx, input.userId, input.tenantId);
    const base = { aggregateId: user.user_id, tenantId: user.tenant_id, ...meta };
    const userId = user.user_id;
    const events = {
      lock: { eventType: 'identity.user.locked', payload: { userId, reason: 'admin' } },
      unlock: { eventType: 'identity.user.unlocked', payload: { userId, reason: 'admin' } },
      suspend: {
        eventType: 'identity.user.suspended',
        payload: { userId, ...(input.reason ? { reason: input.reason } : {}) },
      },
      reactivate: { eventType: 'identity.user.reactivated', payload: { userId } },
      erase: {
        eventType: 'identity.user.erased',
        payload: { userId, ...(input.reason ? { requestId: input.reason } : {}) },
      },
    } as const;
    await ctx.store.append([{ ...base, ...events[input.action] }]);
    if (input.action === 'lock' || input.action === 'suspend' || input.action === 'erase') {
      await endUserSessions(
        ctx,
        user.user_id,
        user.tenant_id,
        input.action === 'erase' ? 'user_deleted' : 'user_revoked',
        meta,
      );
    }
    if (input.action === 'erase') {
      await ctx.store.db.prepare('DELETE FROM credentials WHERE user_id = ?').run(user.user_id);
      await forgetPersonalData(ctx.store.db, user.user_id);
      // The invitations they accepted sealed their email under the invitation's own key.
      for (const invitationId of await acceptedInvitationIds(ctx.store.db, user.user_id))
        await forgetPersonalData(ctx.store.db, invitationId);
    }
    const updated = (await ctx.store.db
      .prepare('SELECT * FROM users WHERE user_id = ?')
      .get(user.user_id)) as UserRow;
    return toUserView(updated);
  });
}

/** Ends the user's sessions, refresh families and grants; returns how many it ended. */
export async function endUserSessions(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  userId: string,
  tenantId: string,
  reason: 'user_revoked' | 'user_deleted' | 'password_reset',
  meta: CommandMeta,
): Promise<number> {
  const sessions = await activeSessionsOfUser(ctx.store.db, userId);
  const grants = await activeGrantsOfUser(ctx.store.db, userId);
  await ctx.store.append([
    ...sessions.map((session) => ({
      eventType: 'identity.session.revoked',
      eventVersion: 2,
      aggregateId: session.session_id,
      tenantId,
      ...meta,
      payload: {
        sessionId: session.session_id,
        userId,
        tenantId,
        ...(session.device_id === null ? {} : { deviceId: session.device_id }),
        reason,
        at: isoNow(ctx.clock),
      },
    })),
    ...grants.map((grant) => ({
      eventType: 'identity.grant.revoked',
      aggregateId: grant.grant_id,
      tenantId,
      ...meta,
      payload: {
        grantId: grant.grant_id,
        userId,
        reason: reason === 'password_reset' ? reason : 'user_revoked',
      },
    })),
  ]);
  await revokeRefreshTokensOfUser(ctx.store.db, userId);
  return sessions.length + grants.length;
}

/**
 * An admin sets a new password (or a learner's PIN) for a user who forgot theirs. Devices keep
 * their offline verifier of the old one until the user signs in online again, so the admin also
 * ends the user's sessions when the old secret may be known to someone else.
 */
export async function resetPassword(
  ctx: Pick<CaContext, 'clock' | 'passwords' | 'store'>,
  input: { userId: string; tenantId: string | null; password: string },
  meta: CommandMeta,
): Promise<UserView> {
  const user = await getUser(ctx, input.userId, input.tenantId);
  const kind = await acceptableSecret(ctx.store, user.tenant_id, user.role, input.password);
  const hash = await ctx.passwords.hash(input.password);
  return ctx.store.transaction(async () => {
    const fresh = await getUser(ctx, input.userId, input.tenantId);
    await ctx.store.append([
      {
        eventType: 'identity.user.password_set',
        aggregateId: fresh.user_id,
        tenantId: fresh.tenant_id,
        ...meta,
        payload: { userId: fresh.user_id, kind, reason: 'admin_reset' },
      },
    ]);
    await setPasswordHash(ctx.store.db, fresh.user_id, hash, isoNow(ctx.clock));
    return toUserView(fresh);
  });
}
