import { UsageError, optionalString, requireString } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import type { MembershipView, Organization } from '../../members/memberships.js';
import { adminCommand, tenantQuery } from '../admin-command.js';
import { idArgument, table } from '../command-kit.js';

function membershipLine(m: MembershipView): string {
  return `Membership ${m.membershipId} of ${m.username} in ${m.organizationId}: ${m.status}; roles ${m.roles.join(',') || '-'}; permissions ${m.permissions.join(',') || '-'}`;
}

export const memberCommands: Command[] = [
  adminCommand({
    path: ['member', 'list'],
    summary: 'List memberships with their roles and permissions',
    usage: 'member list [--tenant T] [--user USER_ID] [--url U] [--data-dir D]',
    options: { tenant: { type: 'string' }, user: { type: 'string' } },
    async run(connect, values) {
      const user = optionalString(values, 'user');
      const query = tenantQuery(values);
      const path = `/v1/admin/memberships${query}${
        user ? `${query ? '&' : '?'}user=${encodeURIComponent(user)}` : ''
      }`;
      const { memberships } = await connect().request<{ memberships: MembershipView[] }>(
        'GET',
        path,
      );
      return {
        json: { memberships },
        human: table([
          ['ID', 'USER', 'ORGANISATION', 'STATUS', 'ROLES', 'PERMISSIONS'],
          ...memberships.map((m) => [
            m.membershipId,
            m.username,
            m.organizationId,
            m.status,
            m.roles.join(',') || '-',
            m.permissions.join(',') || '-',
          ]),
        ]),
      };
    },
  }),
  adminCommand({
    path: ['member', 'add'],
    summary: 'Make an existing user an active member (also lifts a suspension)',
    usage: 'member add USER_ID --tenant T [--org ORG_ID] [--url U] [--data-dir D]',
    options: { tenant: { type: 'string' }, org: { type: 'string' } },
    async run(connect, values, positionals) {
      const userId = idArgument(positionals, 'usr');
      const org = optionalString(values, 'org');
      const view = await connect().request<MembershipView>('POST', '/v1/admin/memberships', {
        tenant: requireString(values, 'tenant'),
        userId,
        ...(org ? { organizationId: org } : {}),
      });
      return { json: { id: view.membershipId, ...view }, human: membershipLine(view) };
    },
  }),
  adminCommand({
    path: ['member', 'suspend'],
    summary: 'Suspend a membership: its roles and permissions stop counting at once',
    usage: 'member suspend MEMBERSHIP_ID [--tenant T] [--reason R] [--url U] [--data-dir D]',
    options: { tenant: { type: 'string' }, reason: { type: 'string' } },
    async run(connect, values, positionals) {
      const id = idArgument(positionals, 'mem');
      const tenant = optionalString(values, 'tenant');
      const reason = optionalString(values, 'reason');
      const view = await connect().request<MembershipView>(
        'POST',
        `/v1/admin/memberships/${id}/suspend`,
        { ...(tenant ? { tenant } : {}), ...(reason ? { reason } : {}) },
      );
      return { json: { id, ...view }, human: membershipLine(view) };
    },
  }),
  adminCommand({
    path: ['member', 'grant'],
    summary: 'Assign a role or a direct permission in the membership’s organisation',
    usage:
      'member grant MEMBERSHIP_ID (--role R | --permission P) [--tenant T] [--url U] [--data-dir D]',
    options: {
      tenant: { type: 'string' },
      role: { type: 'string' },
      permission: { type: 'string' },
    },
    async run(connect, values, positionals) {
      const id = idArgument(positionals, 'mem');
      const tenant = optionalString(values, 'tenant');
      const role = optionalString(values, 'role');
      const permission = optionalString(values, 'permission');
      if ((role === undefined) === (permission === undefined))
        throw new UsageError('give one of --role or --permission');
      const view = await connect().request<MembershipView>(
        'POST',
        `/v1/admin/memberships/${id}/${role ? 'roles' : 'permissions'}`,
        { ...(tenant ? { tenant } : {}), ...(role ? { role } : { permission }) },
      );
      return { json: { id, ...view }, human: membershipLine(view) };
    },
  }),
  adminCommand({
    path: ['member', 'org-create'],
    summary: 'Create a school (organisation) under the tenant, the district',
    usage: 'member org-create NAME --tenant T [--url U] [--data-dir D]',
    options: { tenant: { type: 'string' } },
    async run(connect, values, positionals) {
      const name = positionals.join(' ').trim();
      if (!name) throw new UsageError('give the organisation NAME');
      const org = await connect().request<Organization>('POST', '/v1/admin/organizations', {
        tenant: requireString(values, 'tenant'),
        name,
      });
      return {
        json: { id: org.organizationId, ...org },
        human: `Created ${org.name}: ${org.organizationId}`,
      };
    },
  }),
  adminCommand({
    path: ['member', 'orgs'],
    summary: 'List the schools (organisations) of a tenant',
    usage: 'member orgs [--tenant T] [--url U] [--data-dir D]',
    options: { tenant: { type: 'string' } },
    async run(connect, values) {
      const { organizations } = await connect().request<{ organizations: Organization[] }>(
        'GET',
        `/v1/admin/organizations${tenantQuery(values)}`,
      );
      return {
        json: { organizations },
        human: table([
          ['ID', 'NAME', 'CREATED'],
          ...organizations.map((o) => [o.organizationId, o.name, o.createdAt]),
        ]),
      };
    },
  }),
];
