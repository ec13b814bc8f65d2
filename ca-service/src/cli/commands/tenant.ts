import { UsageError, optionalString } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import type { TenantPasswordPolicyView as PasswordPolicyView } from '../../tenants/tenant-password-policy.js';
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
  adminCommand({
    path: ['tenant', 'password-policy'],
    summary: "Show or set a tenant's password strength (length, common passwords refused)",
    usage:
      'tenant password-policy TENANT [--min-length N] [--refuse-common | --allow-common] [--url U] [--data-dir D]\n\n' +
      'Applies where passwords are set and to offline sign-in: a password below it never becomes\n' +
      'an offline credential on a software-tier device. Without flags it shows the policy.',
    options: {
      'min-length': { type: 'string' },
      'refuse-common': { type: 'boolean', default: false },
      'allow-common': { type: 'boolean', default: false },
    },
    async run(connect, values, positionals) {
      const [tenant] = positionals;
      if (!tenant) throw new UsageError('give the TENANT (slug or ten_… id)');
      const path = `/v1/admin/tenants/${encodeURIComponent(tenant)}/password-policy`;
      const minLengthText = optionalString(values, 'min-length');
      const refuse = values['refuse-common'] === true;
      const allow = values['allow-common'] === true;
      if (refuse && allow) throw new UsageError('give --refuse-common or --allow-common, not both');
      const client = connect();
      let policy = await client.request<PasswordPolicyView>('GET', path);
      if (minLengthText !== undefined || refuse || allow) {
        const minLength = minLengthText === undefined ? policy.minLength : Number(minLengthText);
        if (!Number.isInteger(minLength) || minLength < 8 || minLength > 128) {
          throw new UsageError('--min-length must be a whole number from 8 to 128');
        }
        policy = await client.request<PasswordPolicyView>('PUT', path, {
          minLength,
          refuseCommon: refuse ? true : allow ? false : policy.refuseCommon,
        });
      }
      return {
        json: { ...policy },
        human: `Passwords in ${tenant}: at least ${policy.minLength} characters; common passwords ${policy.refuseCommon ? 'refused' : 'allowed'}${policy.updatedAt ? ` (set ${policy.updatedAt})` : ' (default)'}`,
      };
    },
  }),
];
