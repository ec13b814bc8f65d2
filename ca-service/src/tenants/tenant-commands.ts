import type { Database } from 'better-sqlite3';
import { TenantExistsError, TenantNotFoundError } from '../errors.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';

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
): Tenant {
  const slug = input.slug ?? slugify(input.name);
  return ctx.store.transaction(() => {
    if (findTenant(ctx.store.db, slug))
      throw new TenantExistsError(`a tenant with slug "${slug}" exists`);
    const tenantId = ctx.ids.next('ten');
    ctx.store.append([
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

export function findTenant(db: Database, idOrSlug: string): Tenant | undefined {
  const row = db
    .prepare('SELECT * FROM tenants WHERE tenant_id = ? OR slug = ?')
    .get(idOrSlug, idOrSlug) as TenantRow | undefined;
  return row && toTenant(row);
}

export function getTenant(db: Database, idOrSlug: string): Tenant {
  const tenant = findTenant(db, idOrSlug);
  if (!tenant) throw new TenantNotFoundError(`no tenant "${idOrSlug}"`);
  return tenant;
}

export function listTenants(db: Database): Tenant[] {
  return (db.prepare('SELECT * FROM tenants ORDER BY created_at').all() as TenantRow[]).map(
    toTenant,
  );
}
