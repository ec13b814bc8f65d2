import type { SqlDatabase } from '../store/sql-database.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { MembershipNotFoundError, OrganizationNotFoundError } from '../errors.js';
import { getUser, userNames } from '../users/users.js';
import type { MemberPermission, MemberRole } from './member-roles.js';
import { scopesOf } from './member-roles.js';

export interface Organization {
  organizationId: string;
  tenantId: string;
  name: string;
  createdAt: string;
}

export interface MembershipView {
  membershipId: string;
  userId: string;
  username: string;
  organizationId: string;
  status: 'active' | 'suspended';
  reason: string | null;
  roles: string[];
  permissions: string[];
  updatedAt: string;
}

/**
 * The organisation an id names within a tenant: the tenant itself (the district, whole-tenant
 * scope) or one of its schools. Another tenant's school is not found.
 */
export async function resolveOrganization(
  db: SqlDatabase,
  tenantId: string,
  organizationId: string,
): Promise<string> {
  if (organizationId === tenantId) return tenantId;
  const row = await db
    .prepare('SELECT 1 FROM organizations WHERE organization_id = ? AND tenant_id = ?')
    .get(organizationId, tenantId);
  if (!row) throw new OrganizationNotFoundError();
  return organizationId;
}

export async function createOrganization(
  ctx: Pick<CaContext, 'ids' | 'store'>,
  input: { tenantId: string; name: string },
  meta: CommandMeta,
): Promise<Organization> {
  const organizationId = ctx.ids.next('org');
  await ctx.store.append([
    {
      eventType: 'identity.organization.created',
      aggregateId: organizationId,
      expectedVersion: 0,
      tenantId: input.tenantId,
      ...meta,
      payload: { organizationId, parentId: input.tenantId, name: input.name },
    },
  ]);
  return (await listOrganizations(ctx.store.db, input.tenantId)).find(
    (org) => org.organizationId === organizationId,
  )!;
}

export async function listOrganizations(
  db: SqlDatabase,
  tenantId: string,
): Promise<Organization[]> {
  return (await db
    .prepare(
      `SELECT organization_id AS "organizationId", tenant_id AS "tenantId", name, created_at AS "createdAt"
         FROM organizations WHERE tenant_id = ? ORDER BY created_at LIMIT 5000`,
    )
    .all(tenantId)) as Organization[];
}

interface MembershipRow {
  membership_id: string;
  tenant_id: string;
  user_id: string;
  organization_id: string;
  status: 'active' | 'suspended';
  reason: string | null;
  updated_at: string;
}

async function grantsOf(
  db: SqlDatabase,
  userId: string,
  scope: string,
  kind: 'role' | 'permission',
) {
  return (
    (await db
      .prepare(
        'SELECT grant_name FROM member_assignments WHERE subject = ? AND scope = ? AND kind = ? ORDER BY grant_name',
      )
      .all(userId, scope, kind)) as { grant_name: string }[]
  ).map((row) => row.grant_name);
}

export async function listMemberships(
  db: SqlDatabase,
  tenantId: string,
  userId?: string,
): Promise<MembershipView[]> {
  const memberships = (await db
    .prepare(
      `SELECT * FROM memberships WHERE tenant_id = ? ${userId === undefined ? '' : 'AND user_id = ?'}
       ORDER BY organization_id`,
    )
    .all(...(userId === undefined ? [tenantId] : [tenantId, userId]))) as MembershipRow[];
  // By username, then organisation: the users come in username order, each one's memberships
  // keep theirs (a user without a row has no name to list under).
  const byUser = new Map<string, MembershipRow[]>();
  for (const row of memberships) {
    const ofUser = byUser.get(row.user_id);
    if (ofUser) ofUser.push(row);
    else byUser.set(row.user_id, [row]);
  }
  const rows = (await userNames(db, [...byUser.keys()]))
    .flatMap(({ user_id, username }) =>
      (byUser.get(user_id) ?? []).map((row) => ({ ...row, username })),
    )
    .slice(0, 5000);
  const views: MembershipView[] = [];
  for (const row of rows) {
    views.push({
      membershipId: row.membership_id,
      userId: row.user_id,
      username: row.username,
      organizationId: row.organization_id,
      status: row.status,
      reason: row.reason,
      roles: await grantsOf(db, row.user_id, row.organization_id, 'role'),
      permissions: await grantsOf(db, row.user_id, row.organization_id, 'permission'),
      updatedAt: row.updated_at,
    });
  }
  return views;
}

export async function findMembership(
  db: SqlDatabase,
  userId: string,
  organizationId: string,
): Promise<MembershipRow | undefined> {
  return (await db
    .prepare('SELECT * FROM memberships WHERE user_id = ? AND organization_id = ?')
    .get(userId, organizationId)) as MembershipRow | undefined;
}

async function getMembership(
  db: SqlDatabase,
  membershipId: string,
  tenantId: string,
): Promise<MembershipRow> {
  const row = (await db
    .prepare('SELECT * FROM memberships WHERE membership_id = ?')
    .get(membershipId)) as MembershipRow | undefined;
  if (!row || row.tenant_id !== tenantId) throw new MembershipNotFoundError();
  return row;
}

async function viewOf(db: SqlDatabase, membershipId: string): Promise<MembershipView> {
  const row = (await db
    .prepare('SELECT tenant_id, user_id FROM memberships WHERE membership_id = ?')
    .get(membershipId)) as { tenant_id: string; user_id: string };
  return (await listMemberships(db, row.tenant_id, row.user_id)).find(
    (view) => view.membershipId === membershipId,
  )!;
}

/**
 * Makes the user an active member of the organisation: a new membership, or a suspended one
 * active again. Appends nothing when it is active already. Runs inside the caller's transaction
 * when there is one (the invitation's accept).
 */
export async function activateMembership(
  ctx: Pick<CaContext, 'ids' | 'store'>,
  input: { tenantId: string; userId: string; organizationId: string },
  meta: CommandMeta,
): Promise<string> {
  const existing = await findMembership(ctx.store.db, input.userId, input.organizationId);
  if (existing?.status === 'active') return existing.membership_id;
  const membershipId = existing?.membership_id ?? ctx.ids.next('mem');
  await ctx.store.append([
    {
      eventType: 'identity.membership.activated',
      aggregateId: membershipId,
      ...(existing ? {} : { expectedVersion: 0 }),
      tenantId: input.tenantId,
      ...meta,
      payload: { membershipId, userId: input.userId, organizationId: input.organizationId },
    },
  ]);
  return membershipId;
}

/** An admin adds an existing user of the tenant to an organisation, or lifts a suspension. */
export function addMember(
  ctx: Pick<CaContext, 'ids' | 'store'>,
  input: { tenantId: string; userId: string; organizationId: string },
  meta: CommandMeta,
): Promise<MembershipView> {
  return ctx.store.transaction(async () => {
    const user = await getUser(ctx, input.userId, input.tenantId);
    const organizationId = await resolveOrganization(
      ctx.store.db,
      input.tenantId,
      input.organizationId,
    );
    const membershipId = await activateMembership(
      ctx,
      { tenantId: input.tenantId, userId: user.user_id, organizationId },
      meta,
    );
    return viewOf(ctx.store.db, membershipId);
  });
}

/** The member keeps the membership and its roles, but none of them counts until reactivated. */
export function suspendMembership(
  ctx: Pick<CaContext, 'store'>,
  input: { tenantId: string; membershipId: string; reason?: string },
  meta: CommandMeta,
): Promise<MembershipView> {
  return ctx.store.transaction(async () => {
    const row = await getMembership(ctx.store.db, input.membershipId, input.tenantId);
    if (row.status !== 'suspended') {
      await ctx.store.append([
        {
          eventType: 'identity.membership.suspended',
          aggregateId: row.membership_id,
          tenantId: row.tenant_id,
          ...meta,
          payload: {
            membershipId: row.membership_id,
            ...(input.reason ? { reason: input.reason } : {}),
          },
        },
      ]);
    }
    return viewOf(ctx.store.db, row.membership_id);
  });
}

export type Grant = { role: MemberRole } | { permission: MemberPermission };

/** The admin API scopes a grant amounts to (what the granter must hold itself). */
export function grantScopes(grant: Grant): string[] {
  return 'role' in grant ? scopesOf([grant.role], []) : [grant.permission];
}

/**
 * Assigns a role or a direct permission to a member, scoped to the organisation of the
 * membership: the tenant (district-wide) or one school. Assigning what the member already holds
 * there appends nothing.
 */
export function assignGrant(
  ctx: Pick<CaContext, 'ids' | 'store'>,
  input: { tenantId: string; membershipId: string; grant: Grant },
  meta: CommandMeta,
): Promise<MembershipView> {
  return ctx.store.transaction(async () => {
    const row = await getMembership(ctx.store.db, input.membershipId, input.tenantId);
    await appendGrants(ctx, row.tenant_id, row.user_id, row.organization_id, [input.grant], meta);
    return viewOf(ctx.store.db, row.membership_id);
  });
}

/** `identity.role.assigned` / `identity.permission.assigned` for each grant not yet held. */
export async function appendGrants(
  ctx: Pick<CaContext, 'ids' | 'store'>,
  tenantId: string,
  userId: string,
  scope: string,
  grants: readonly Grant[],
  meta: CommandMeta,
): Promise<void> {
  const db = ctx.store.db;
  const held = {
    role: await grantsOf(db, userId, scope, 'role'),
    permission: await grantsOf(db, userId, scope, 'permission'),
  };
  const events = grants.flatMap((grant) => {
    const [kind, name] = 'role' in grant ? ['role', grant.role] : ['permission', grant.permission];
    if (held[kind as 'role' | 'permission'].includes(name)) return [];
    const assignmentId = ctx.ids.next('asg');
    const common = { aggregateId: assignmentId, expectedVersion: 0, tenantId, ...meta };
    return [
      'role' in grant
        ? {
            ...common,
            eventType: 'identity.role.assigned',
            payload: { assignmentId, role: grant.role, subject: userId, scope },
          }
        : {
            ...common,
            eventType: 'identity.permission.assigned',
            payload: { assignmentId, permission: grant.permission, subject: userId, scope },
          },
    ];
  });
  if (events.length > 0) await ctx.store.append(events);
}

/**
 * The admin API scopes a user holds on their tenant as a whole: the roles and permissions
 * assigned with the tenant as scope, counted only while the user's tenant-wide membership is
 * active. A role held in one school grants nothing on tenant-wide routes.
 */
export async function memberScopes(
  db: SqlDatabase,
  userId: string,
  tenantId: string,
): Promise<string[]> {
  if ((await findMembership(db, userId, tenantId))?.status !== 'active') return [];
  return scopesOf(
    await grantsOf(db, userId, tenantId, 'role'),
    await grantsOf(db, userId, tenantId, 'permission'),
  );
}
