import type { Projection } from '../store/event-store.js';
import { statement } from '../store/statements.js';

/**
 * Insert only: `tenantName` (tenant-commands.ts) keeps each name for the life of the process on
 * that rule, so an event that renames or removes a tenant must also clear that cache.
 */
export const tenantsProjection: Projection = {
  name: 'tenants',
  tables: ['tenants'],
  apply(db, event) {
    if (event.eventType !== 'identity.tenant.created') return;
    const { tenantId, name, slug } = event.payload;
    statement(
      db,
      'INSERT INTO tenants (tenant_id, name, slug, created_at) VALUES (?, ?, ?, ?)',
    ).run(tenantId, name, slug, event.occurredAt);
  },
};
