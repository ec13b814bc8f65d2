import type { Database } from 'better-sqlite3';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { CredentialRejectedError, UserExistsError, UserNotFoundError } from '../errors.js';
import { acceptedInvitationIds } from '../members/invitation-queries.js';
import { pinPolicy } from '../passwords/credential-policy.js';
import type { EventStore } from '../store/event-store.js';
import { tenantPasswordCheck } from '../tenants/tenant-password-policy.js';
import { getTenant } from '../tenants/tenant-commands.js';
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

export function findUserByName(
  db: Database,
  tenantId: string,
  username: string,
): UserRow | undefined {
  return db
    .prepare('SELECT * FROM users WHERE tenant_id = ? AND username = ?')
    .get(tenantId, username) as UserRow | undefined;
}

/** A user of another tenant is not found: tenants never learn of each other's users. */
export function getUser(
  ctx: Pick<CaContext, 'store'>,
  userId: string,
  tenantId: string | null,
): UserRow {
  const row = ctx.store.db.prepare('SELECT * FROM users WHERE user_id = ?').get(userId) as
    UserRow | undefined;
  if (!row || row.status === 'erased' || (tenantId !== null && row.tenant_id !== tenantId))
    throw new UserNotFoundError();
  return row;
}

export function listUsers(ctx: Pick<CaContext, 'store'>, tenantId: string): UserView[] {
  return (
    ctx.store.db
      .prepare(
        "SELECT * FROM users WHERE tenant_id = ? AND status != 'erased' ORDER BY username LIMIT 5000",
      )
      .all(tenantId) as UserRow[]
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
export function acceptableSecret(
  store: EventStore,
  tenantId: string,
  role: Role,
  secret: string,
): 'password' | 'pin' {
  const kind = credentialKind(role, secret);
  const policy = kind === 'pin' ? pinPolicy() : tenantPasswordCheck(store, tenantId);
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
  const tenant = getTenant(ctx.store.db, input.tenant);
  const kind = acceptableSecret(ctx.store, tenant.tenantId, input.role, input.password);
  const hash = await ctx.passwords.hash(input.password);
  return ctx.store.transaction(() => {
    if (findUserByName(ctx.store.db, tenant.tenantId, input.username)) {
      throw new UserExistsError(`"${input.username}" already exists in this tenant`);
    }
    const userId = ctx.ids.next('usr');
    const base = { aggregateId: userId, tenantId: tenant.tenantId, ...meta };
    ctx.store.append([
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
          personalData: sealPersonalData(
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
    ctx.store.db
      .prepare('INSERT INTO credentials (user_id, kind, hash, updated_at) VALUES (?, ?, ?, ?)')
      .run(userId, 'password', hash, isoNow(ctx.clock));
    return toUserView(getUser(ctx, userId, null));
  });
}

export type UserAction = 'lock' | 'unlock' | 'suspend' | 'reactivate' | 'erase';

/** Admin actions on a user. Lock, suspend and erase revoke: the feed tells every device. */
export function applyUserAction(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  input: { userId: string; tenantId: string | null; action: UserAction; reason?: string },
  meta: CommandMeta,
): UserView {
  return ctx.store.transaction(() => {
    const user = getUser(ctx, input.userId, input.tenantId);
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
    ctx.store.append([{ ...base, ...events[input.action] }]);
    if (input.action === 'lock' || input.action === 'suspend' || input.action === 'erase') {
      endUserSessions(
        ctx,
        user.user_id,
        user.tenant_id,
        input.action === 'erase' ? 'user_deleted' : 'user_revoked',
        meta,
      );
    }
    if (input.action === 'erase') {
      ctx.store.db.prepare('DELETE FROM credentials WHERE user_id = ?').run(user.user_id);
      forgetPersonalData(ctx.store.db, user.user_id);
      // The invitations they accepted sealed their email under the invitation's own key.
      for (const invitationId of acceptedInvitationIds(ctx.store.db, user.user_id))
        forgetPersonalData(ctx.store.db, invitationId);
    }
    const updated = ctx.store.db
      .prepare('SELECT * FROM users WHERE user_id = ?')
      .get(user.user_id) as UserRow;
    return toUserView(updated);
  });
}

/** Ends the user's sessions, refresh families and grants; returns how many it ended. */
export function endUserSessions(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  userId: string,
  tenantId: string,
  reason: 'user_revoked' | 'user_deleted' | 'password_reset',
  meta: CommandMeta,
): number {
  const sessions = ctx.store.db
    .prepare("SELECT session_id, device_id FROM sessions WHERE user_id = ? AND status = 'active'")
    .all(userId) as { session_id: string; device_id: string | null }[];
  const grants = ctx.store.db
    .prepare("SELECT grant_id FROM grants WHERE user_id = ? AND status = 'active'")
    .all(userId) as { grant_id: string }[];
  ctx.store.append([
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
  ctx.store.db
    .prepare(
      "UPDATE refresh_tokens SET status = 'revoked' WHERE session_id IN (SELECT session_id FROM sessions WHERE user_id = ?)",
    )
    .run(userId);
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
  const user = getUser(ctx, input.userId, input.tenantId);
  const kind = acceptableSecret(ctx.store, user.tenant_id, user.role, input.password);
  const hash = await ctx.passwords.hash(input.password);
  return ctx.store.transaction(() => {
    const fresh = getUser(ctx, input.userId, input.tenantId);
    ctx.store.append([
      {
        eventType: 'identity.user.password_set',
        aggregateId: fresh.user_id,
        tenantId: fresh.tenant_id,
        ...meta,
        payload: { userId: fresh.user_id, kind, reason: 'admin_reset' },
      },
    ]);
    ctx.store.db
      .prepare(
        `INSERT INTO credentials (user_id, kind, hash, updated_at) VALUES (?, 'password', ?, ?)
         ON CONFLICT (user_id, kind) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`,
      )
      .run(fresh.user_id, hash, isoNow(ctx.clock));
    return toUserView(fresh);
  });
}
