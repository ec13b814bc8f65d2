import {
  LanternError,
  ServiceUnavailableError,
  UsageError,
  optionalString,
  parseDurationWithin,
  requireString,
} from '@lantern/shared';
import type { Command } from '@lantern/shared';
import type { Accepted, InvitationView } from '../../members/invitations.js';
import { MAX_INVITATION_TTL_SECONDS } from '../../members/invitations.js';
import { adminCommand, tenantQuery } from '../admin-command.js';
import { idArgument, table } from '../command-kit.js';

/** The invitee has no admin key: the accept route is public, reached by URL only. */
async function acceptOverHttp(url: string, body: Record<string, string>): Promise<Accepted> {
  let response: Response;
  try {
    response = await fetch(`${url.replace(/\/+$/, '')}/v1/invitations/accept`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (error) {
    throw new ServiceUnavailableError(`no CA answers at ${url}`, { cause: error });
  }
  const parsed = (await response.json()) as Record<string, unknown>;
  if (!response.ok) {
    throw new LanternError(
      String(parsed['code'] ?? 'internal_error'),
      response.status,
      String(parsed['message'] ?? response.statusText),
    );
  }
  return parsed as unknown as Accepted;
}

export const inviteCommands: Command[] = [
  adminCommand({
    path: ['invite', 'create'],
    summary: 'Invite someone by email into the tenant or one of its schools (token shown once)',
    usage:
      'invite create --tenant T --email E [--org ORG_ID] [--roles org_admin,user_manager,device_manager,auditor] [--account-role teacher|admin] [--ttl 7d] [--url U] [--data-dir D]',
    options: {
      tenant: { type: 'string' },
      email: { type: 'string' },
      org: { type: 'string' },
      roles: { type: 'string' },
      'account-role': { type: 'string' },
      ttl: { type: 'string' },
    },
    async run(connect, values) {
      const org = optionalString(values, 'org');
      const roles = optionalString(values, 'roles');
      const accountRole = optionalString(values, 'account-role');
      const ttl = optionalString(values, 'ttl');
      const created = await connect().request<{ invitation: InvitationView; token: string }>(
        'POST',
        '/v1/admin/invitations',
        {
          tenant: requireString(values, 'tenant'),
          email: requireString(values, 'email'),
          ...(org ? { organizationId: org } : {}),
          ...(roles ? { roles: roles.split(',').map((role) => role.trim()) } : {}),
          ...(accountRole ? { accountRole } : {}),
          ...(ttl
            ? {
                ttlSeconds: parseDurationWithin('ttl', ttl, {
                  min: 300,
                  max: MAX_INVITATION_TTL_SECONDS,
                }),
              }
            : {}),
        },
      );
      const { invitation, token } = created;
      return {
        json: { id: invitation.invitationId, ...created },
        human: [
          `Invitation ${invitation.invitationId} for ${invitation.email}, until ${invitation.expiresAt}.`,
          'Send the invitee this token (shown once); they accept with',
          `  lantern-ca invite accept --url <CA URL> --tenant ${invitation.tenantId} --username NAME < password`,
          `  token: ${token}`,
        ].join('\n'),
      };
    },
  }),
  adminCommand({
    path: ['invite', 'list'],
    summary: 'List the invitations of a tenant',
    usage: 'invite list [--tenant T] [--url U] [--data-dir D]',
    options: { tenant: { type: 'string' } },
    async run(connect, values) {
      const { invitations } = await connect().request<{ invitations: InvitationView[] }>(
        'GET',
        `/v1/admin/invitations${tenantQuery(values)}`,
      );
      return {
        json: { invitations },
        human: table([
          ['ID', 'EMAIL', 'ORGANISATION', 'ROLES', 'STATUS', 'EXPIRES'],
          ...invitations.map((i) => [
            i.invitationId,
            i.email,
            i.organizationId,
            i.roles.join(',') || '-',
            i.status,
            i.expiresAt,
          ]),
        ]),
      };
    },
  }),
  adminCommand({
    path: ['invite', 'revoke'],
    summary: 'Withdraw a pending invitation: its token stops working at once',
    usage: 'invite revoke INVITATION_ID --tenant T [--reason TEXT] [--url U] [--data-dir D]',
    options: { tenant: { type: 'string' }, reason: { type: 'string' } },
    async run(connect, values, positionals) {
      const invitationId = idArgument(positionals, 'inv');
      const reason = optionalString(values, 'reason');
      const invitation = await connect().request<InvitationView>(
        'POST',
        `/v1/admin/invitations/${invitationId}/revoke`,
        { tenant: requireString(values, 'tenant'), ...(reason ? { reason } : {}) },
      );
      return {
        json: { ...invitation },
        human: `Invitation ${invitation.invitationId} for ${invitation.email} is revoked; its token no longer works.`,
      };
    },
  }),
  {
    path: ['invite', 'accept'],
    summary: 'Accept an invitation (public): creates the account, password read from stdin',
    usage: 'invite accept TOKEN --url U --tenant T --username NAME [--display-name N] < password',
    options: {
      url: { type: 'string' },
      tenant: { type: 'string' },
      username: { type: 'string' },
      'display-name': { type: 'string' },
    },
    async run(values, positionals, io) {
      const [token] = positionals;
      if (!token) throw new UsageError('give the invitation TOKEN (inv_….…)');
      const password = (await io.readStdin()).replace(/\r?\n$/, '');
      if (!password)
        throw new UsageError(
          'give the password on stdin (e.g. `printf %s "$PW" | lantern-ca invite accept ...`)',
        );
      const displayName = optionalString(values, 'display-name');
      const accepted = await acceptOverHttp(requireString(values, 'url'), {
        tenant: requireString(values, 'tenant'),
        token,
        username: requireString(values, 'username'),
        password,
        ...(displayName ? { displayName } : {}),
      });
      return {
        json: { ...accepted },
        human: `Joined ${accepted.organizationId} as ${accepted.userId} (membership ${accepted.membershipId}, roles: ${accepted.roles.join(', ') || 'none'})`,
      };
    },
  },
];
