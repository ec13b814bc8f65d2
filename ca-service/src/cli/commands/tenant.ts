import { UsageError, optionalString } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import type { Tenant } from '../../tenants/tenant-commands.js';
import { adminCommand } from '../admin-command.js';
import { table } from '../command-kit.js';

export const tenantCommands: Command[] = [
  adminCommand({
    path: ['tenant', 'create'],
    summary: 'Create a tenant (a school or organisation)',
    usage: 'tenant create NAME [--slug S] [--url U] [--data-dir D]',
    options: { slug: { type: 'string' } },
    async run(connect, values, positionals) {
      const name = positionals.join(' ').trim();
      if (!name) throw new UsageError('give the tenant NAME');
      const slug = optionalString(values, 'slug');
      const tenant = await connect().request<Tenant>('POST', '/v1/admin/tenants', {
        name,
        ...(slug ? { slug } : {}),
      });
      return {
        json: { id: tenant.tenantId, ...tenant },
        human: `Created tenant ${tenant.name} (${tenant.slug}): ${tenant.tenantId}`,
      };
    },
  }),
  adminCommand({
    path: ['tenant', 'list'],
    summary: 'List tenants',
    usage: 'tenant list [--url U] [--data-dir D]',
    options: {},
    async run(connect) {
      const { tenants } = await connect().request<{ tenants: Tenant[] }>(
        'GET',
        '/v1/admin/tenants',
      );
      return {
        json: { tenants },
        human: table([['ID', 'SLUG', 'NAME'], ...tenants.map((t) => [t.tenantId, t.slug, t.name])]),
      };
    },
  }),
];
