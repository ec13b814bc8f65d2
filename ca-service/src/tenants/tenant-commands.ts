import type { SqlDatabase } from '../store/sql-database.js';
import { TenantExistsError, TenantNotFoundError } from '../errors.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { statement } from '../store/statements.js';

export interface Tenant {
  tenantId: string;
  name: string;
  slug: string;
  createdAt: string;
}

interface TenantRow {
  tenant_id: string;
  name: string;
  slug: string;
  created_at: string;
}

const toTenant = (row: TenantRow): Tenant => ({
  tenantId: row.tenant_id,
  name: row.name,
  slug: row.slug,
  createdAt: row.created_at,
});

export function slugify(name: string): string {
  return (
    name
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 63) || 'tenant'
  );
}

export function createTenant(
  ctx: Pick<CaContext, 'ids' | 'store'>,
  input: { name: string; slug?: string },
  meta: CommandMeta,
): Promise<Tenant> {
  const slug = input.slug ?? slugify(input.name);
  return ctx.store.transaction(async () => {
    if (await findTenant(ctx.store.db, slug))
      throw new TenantExistsError(`a tenant with slug "${slug}" exists`);
    const tenantId = ctx.ids.next('ten');
    await ctx.store.append([
      {
        eventType: 'identity.tenant.created',
        aggregateId: tenantId,
        expectedVersion: 0,
        tenantId,
        ...meta,
        payload: { tenantId, name: input.name, slug },
      },
    ]);
    return getTenant(ctx.store.db, tenantId);
  });
}

export async function findTenant(db: SqlDatabase, idOrSlug: string): Promise<Tenant | undefined> {
  const row = (await statement(db, 'SELECT * FROM tenants WHERE tenant_id = ? OR slug = ?').get(
    idOrSlug,
    idOrSlug,
  )) as TenantRow | undefined;
  return row && toTenant(row);
}

export async function getTenant(db: SqlDatabase, idOrSlug: string): Promise<Tenant> {
  const tenant = await findTenant(db, idOrSlug);
  if (!tenant) throw new TenantNotFoundError(`no tenant "${idOrSlug}"`);
  return tenant;
}

export async function listTenants(db: SqlDatabase): Promise<Tenant[]> {
  return ((await db.prepare('SELECT * FROM tenants ORDER BY created_at').all()) as TenantRow[]).map(
    toTenant,
  );
}

export async function tenantExists(db: SqlDatabase, tenantId: string): Promise<boolean> {
  return (
    (await statement(db, 'SELECT 1 FROM tenants WHERE tenant_id = ?').get(tenantId)) !== undefined
  );
}

export async function tenantIds(db: SqlDatabase): Promise<string[]> {
  return (
    (await statement(db, 'SELECT tenant_id FROM tenants').all()) as { tenant_id: string }[]
  ).map((row) => row.tenant_id);
}

const namesByDatabase = new WeakMap<SqlDatabase, Map<string, string>>();

/**
 * A tenant's name never changes once created (there is no rename event), so each is read once
 * per database: every enrollment names its tenant, and enrollment is a hot path.
 */
export async function tenantName(db: SqlDatabase, tenantId: string): Promise<string | undefined> {
  let names = namesByDatabase.get(db);
  if (!names) {
    names = new Map();
    namesByDatabase.set(db, names);
  }
  let name = names.get(tenantId);
  if (name === undefined) {
    const row = (await statement(db, 'SELECT name FROM tenants WHERE tenant_id = ?').get(
      tenantId,
    )) as { name: string } | undefined;
    name = row?.name;
    if (name !== undefined) names.set(tenantId, name);
  }
  return name;
}
