import type { SqlDatabase } from '../store/sql-database.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import {
  InvalidCredentialsError,
  InvitationExpiredError,
  InvitationInvalidError,
  InvitationNotFoundError,
  InvitationRevokedError,
  InvitationUsedError,
} from '../errors.js';
import { findTenant } from '../tenants/tenant-commands.js';
import { sealPersonalData } from '../users/personal-data.js';
import type { Role } from '../users/users.js';
import { acceptableSecret, findUserByName, passwordHash, setPasswordHash } from '../users/users.js';
import type { MemberRole } from './member-roles.js';
import { activateMembership, appendGrants, resolveOrganization } from './memberships.js';

/** How long an accept link lasts unless the admin says otherwise, and at most. */
export const DEFAULT_INVITATION_TTL_SECONDS = 7 * 86_400;
export const MAX_INVITATION_TTL_SECONDS = 30 * 86_400;

const TOKEN_FORMAT = /^(inv_[0-9A-HJKMNP-TV-Z]{26})\.([A-Za-z0-9_-]{43})$/;

const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export interface InvitationView {
  invitationId: string;
  tenantId: string;
  organizationId: string;
  email: string;
  roles: string[];
  accountRole: Role;
  status: 'pending' | 'accepted' | 'expired' | 'revoked';
  expiresAt: string;
  userId: string | null;
  membershipId: string | null;
  invitedBy: string;
  createdAt: string;
}

interface InvitationRow {
  invitation_id: string;
  tenant_id: string;
  organization_id: string;
  email: string;
  roles: string;
  account_role: Role;
  token_hash: string;
  expires_at: string;
  status: 'pending' | 'accepted' | 'revoked';
  user_id: string | null;
  membership_id: string | null;
  invited_by: string;
  created_at: string;
}

const toView = (row: InvitationRow, now: string): InvitationView => ({
  invitationId: row.invitation_id,
  tenantId: row.tenant_id,
  organizationId: row.organization_id,
  email: row.email,
  roles: JSON.parse(row.roles) as string[],
  accountRole: row.account_role,
  status: row.status === 'pending' && row.expires_at <= now ? 'expired' : row.status,
  expiresAt: row.expires_at,
  userId: row.user_id,
  membershipId: row.membership_id,
  invitedBy: row.invited_by,
  createdAt: row.created_at,
});

/**
 * An admin invites someone by email into an organisation with membership roles. The accept
 * token (`inv_….secret`) is returned once; the event and the projection keep only the SHA-256
 * of its 256-bit secret, so a copy of the store accepts nothing.
 */
export function createInvitation(
  ctx: Pick<CaContext, 'clock' | 'ids' | 'store'>,
  input: {
    tenantId: string;
    organizationId: string;
    email: string;
    roles: MemberRole[];
    accountRole: Role;
    ttlSeconds: number;
  },
  meta: CommandMeta,
): Promise<{ invitation: InvitationView; token: string }> {
  return ctx.store.transaction(async () => {
    const organizationId = await resolveOrganization(
      ctx.store.db,
      input.tenantId,
      input.organizationId,
    );
    const invitationId = ctx.ids.next('inv');
    const secret = randomBytes(32).toString('base64url');
    await ctx.store.append([
      {
        eventType: 'identity.invitation.created',
        aggregateId: invitationId,
        expectedVersion: 0,
        tenantId: input.tenantId,
        ...meta,
        payload: {
          invitationId,
          organizationId,
          personalData: await sealPersonalData(
            ctx.store.db,
            invitationId,
            { username: input.email, email: input.email },
            isoNow(ctx.clock),
          ),
          roles: [...new Set(input.roles)],
          accountRole: input.accountRole,
          tokenHash: hashSecret(secret),
          expiresAt: new Date(ctx.clock.now() + input.ttlSeconds * 1000).toISOString(),
        },
      },
    ]);
    return {
      invitation: await getInvitation(ctx, invitationId, input.tenantId),
      token: `${invitationId}.${secret}`,
    };
  });
}

export async function getInvitation(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  invitationId: string,
  tenantId: string,
): Promise<InvitationView> {
  const row = await invitationRow(ctx.store.db, invitationId);
  if (!row || row.tenant_id !== tenantId) throw new InvitationNotFoundError();
  return toView(row, isoNow(ctx.clock));
}

/**
 * An admin withdraws a pending (or expired) invitation: its link stops working at once. Revoking
 * one already revoked changes nothing; an accepted one is a membership now, suspended elsewhere.
 */
export function revokeInvitation(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  input: { tenantId: string; invitationId: string; reason?: string },
  meta: CommandMeta,
): Promise<InvitationView> {
  return ctx.store.transaction(async () => {
    const current = await getInvitation(ctx, input.invitationId, input.tenantId);
    if (current.status === 'accepted')
      throw new InvitationUsedError(
        'the invitation was already accepted: suspend the membership instead',
      );
    if (current.status !== 'revoked') {
      await ctx.store.append([
        {
          eventType: 'identity.invitation.revoked',
          aggregateId: input.invitationId,
          tenantId: input.tenantId,
          ...meta,
          payload: {
            invitationId: input.invitationId,
            ...(input.reason ? { reason: input.reason } : {}),
          },
        },
      ]);
    }
    return getInvitation(ctx, input.invitationId, input.tenantId);
  });
}

export async function listInvitations(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  tenantId: string,
): Promise<InvitationView[]> {
  const now = isoNow(ctx.clock);
  return (
    (await ctx.store.db
      .prepare('SELECT * FROM invitations WHERE tenant_id = ? ORDER BY created_at LIMIT 5000')
      .all(tenantId)) as InvitationRow[]
  ).map((row) => toView(row, now));
}

async function invitationRow(
  db: SqlDatabase,
  invitationId: string,
): Promise<InvitationRow | undefined> {
  return (await db
    .prepare('SELECT * FROM invitations WHERE invitation_id = ?')
    .get(invitationId)) as InvitationRow | undefined;
}

export interface AcceptInput {
  /** The school (tenant id or slug) the invitee says they join: must be the invitation's. */
  tenant: string;
  token: string;
  username: string;
  password: string;
  displayName?: string;
}

export interface Accepted {
  invitationId: string;
  tenantId: string;
  userId: string;
  membershipId: string;
  organizationId: string;
  roles: string[];
  /** The account: made now, an invited shadow account completed, or an existing one joining. */
  account: 'created' | 'completed' | 'existing';
}

/** The invitation a token opens; unknown, malformed and other-tenant tokens look the same. */
async function openToken(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  input: AcceptInput,
): Promise<InvitationRow> {
  const match = TOKEN_FORMAT.exec(input.token);
  const row = match ? await invitationRow(ctx.store.db, match[1]!) : undefined;
  const expected = Buffer.from(row?.token_hash ?? '0'.repeat(64), 'hex');
  const actual = Buffer.from(hashSecret(match?.[2] ?? ''), 'hex');
  const tenant = await findTenant(ctx.store.db, input.tenant);
  if (!row || !timingSafeEqual(expected, actual) || tenant?.tenantId !== row.tenant_id)
    throw new InvitationInvalidError();
  if (row.status === 'accepted') throw new InvitationUsedError();
  if (row.status === 'revoked') throw new InvitationRevokedError();
  if (row.expires_at <= isoNow(ctx.clock)) throw new InvitationExpiredError();
  return row;
}

/**
 * The invitee accepts (public, token-checked): the account is created with the password given
 * now, or — when the username is taken by an account of the invited address — the invitee
 * proves it is theirs with its password, or completes a shadow account the inbox made from
 * `tenant.org.user_invited` (no password yet).
 * Then, in one transaction: `identity.invitation.accepted`, `identity.membership.activated` and
 * one `identity.role.assigned` per invited role, scoped to the invitation's organisation.
 */
export async function acceptInvitation(
  ctx: Pick<CaContext, 'clock' | 'ids' | 'passwords' | 'store'>,
  input: AcceptInput,
  meta: Omit<CommandMeta, 'actor'>,
): Promise<Accepted> {
  const invitation = await openToken(ctx, input);
  const existing = await findUserByName(ctx.store.db, invitation.tenant_id, input.username);
  // Only the account of the invited address may be joined or completed: a token is no licence
  // to guess other users' passwords or to claim someone else's shadow account.
  if (existing && existing.email?.toLowerCase() !== invitation.email.toLowerCase())
    throw new InvalidCredentialsError(`"${input.username}" is taken: choose another username`);
  const credential = existing && (await passwordHash(ctx.store.db, existing.user_id));
  let hash: string | undefined;
  if (existing && credential !== undefined) {
    const verdict = await ctx.passwords.verify(input.password, credential);
    if (!verdict.ok || existing.status !== 'active')
      throw new InvalidCredentialsError(
        `"${input.username}" is taken: give its password to join with that account`,
      );
  } else if (existing && existing.status !== 'pending_verification') {
    throw new InvalidCredentialsError(`"${input.username}" is taken`);
  } else {
    await acceptableSecret(
      ctx.store,
      invitation.tenant_id,
      invitation.account_role,
      input.password,
    );
    hash = await ctx.passwords.hash(input.password);
  }

  return ctx.store.transaction(async () => {
    // Checked again now that the hash is done: two accepts of one token race to here.
    const fresh = await openToken(ctx, input);
    const now = isoNow(ctx.clock);
    const tenantId = fresh.tenant_id;
    const current = await findUserByName(ctx.store.db, tenantId, input.username);
    if (current?.user_id !== existing?.user_id)
      throw new InvalidCredentialsError(`"${input.username}" was taken meanwhile`);
    // The account as it is now: suspended, given another address or another password (or a
    // shadow account completed) while the password was checked or hashed refuses the accept.
    if (
      current &&
      existing &&
      (current.status !== existing.status ||
        current.email?.toLowerCase() !== fresh.email.toLowerCase() ||
        (await passwordHash(ctx.store.db, current.user_id)) !== credential)
    )
      throw new InvalidCredentialsError(`"${input.username}" changed meanwhile: try again`);
    const userId = current?.user_id ?? ctx.ids.next('usr');
    const actorMeta: CommandMeta = { ...meta, actor: { type: 'user', id: userId } };
    const base = { aggregateId: userId, tenantId, ...actorMeta };
    let account: Accepted['account'] = 'existing';
    if (!current) {
      account = 'created';
      await ctx.store.append([
        {
          ...base,
          eventType: 'identity.user.registered',
          eventVersion: 3,
          expectedVersion: 0,
          payload: {
            userId,
            role: fresh.account_role,
            status: 'active',
            // The invitation came to this address, so following it verifies the address.
            emailVerified: true,
            homeTenantId: tenantId,
            registrationSource: 'invite',
            createdAt: now,
            personalData: await sealPersonalData(
              ctx.store.db,
              userId,
              {
                username: input.username,
                email: fresh.email,
                ...(input.displayName === undefined ? {} : { displayName: input.displayName }),
              },
              now,
            ),
          },
        },
      ]);
    } else if (hash !== undefined) {
      account = 'completed';
      // The invitation came to this address, so following it verifies the address.
      await ctx.store.append([
        {
          ...base,
          eventType: 'identity.user.email_verified',
          payload: { userId, verifiedAt: now },
        },
      ]);
    }
    if (hash !== undefined) {
      await ctx.store.append([
        {
          ...base,
          eventType: 'identity.user.password_set',
          payload: { userId, kind: 'password', reason: 'registration' },
        },
      ]);
      await setPasswordHash(ctx.store.db, userId, hash, now);
    }
    const membershipId = await activateMembership(
      ctx,
      { tenantId, userId, organizationId: fresh.organization_id },
      actorMeta,
    );
    await ctx.store.append([
      {
        eventType: 'identity.invitation.accepted',
        aggregateId: fresh.invitation_id,
        tenantId,
        ...actorMeta,
        payload: { invitationId: fresh.invitation_id, userId, membershipId },
      },
    ]);
    const roles = JSON.parse(fresh.roles) as MemberRole[];
    // The grants are the inviting admin's: the events name them, the invitee only accepted.
    await appendGrants(
      ctx,
      tenantId,
      userId,
      fresh.organization_id,
      roles.map((role) => ({ role })),
      { ...actorMeta, actor: actorOf(fresh.invited_by) },
    );
    return {
      invitationId: fresh.invitation_id,
      tenantId,
      userId,
      membershipId,
      organizationId: fresh.organization_id,
      roles,
      account,
    };
  });
}

function actorOf(id: string): CommandMeta['actor'] {
  return { type: id.startsWith('usr_') ? 'user' : 'api_key', id };
}
