import { UsageError, optionalString, requireString } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import type { UserView } from '../../users/users.js';
import { adminCommand, tenantQuery } from '../admin-command.js';
import { idArgument, table } from '../command-kit.js';

const USER_ACTIONS = {
  lock: 'Lock a user (ends their sessions; devices learn it at their next sync)',
  unlock: 'Unlock a user and reset their failure counter',
  suspend: 'Suspend a user (ends their sessions and offline grants)',
  reactivate: 'Reactivate a suspended user',
  erase: 'Erase a user (GDPR): personal fields anonymised, sessions and grants ended',
} as const;

export const userCommands: Command[] = [
  adminCommand({
    path: ['user', 'create'],
    summary: 'Create a user; the password (or a learner PIN) is read from stdin',
    usage:
      'user create --tenant T --username U --role learner|teacher|admin [--email E] [--url U] [--data-dir D] < password',
    options: {
      tenant: { type: 'string' },
      username: { type: 'string' },
      role: { type: 'string' },
      email: { type: 'string' },
    },
    async run(connect, values, _positionals, io) {
      const password = (await io.readStdin()).replace(/\r?\n$/, '');
      if (!password)
        throw new UsageError(
          'give the password on stdin (e.g. `printf %s "$PW" | lantern-ca user create ...`)',
        );
      const email = optionalString(values, 'email');
      const user = await connect().request<UserView>('POST', '/v1/admin/users', {
        tenant: requireString(values, 'tenant'),
        username: requireString(values, 'username'),
        role: requireString(values, 'role'),
        password,
        ...(email ? { email } : {}),
      });
      return {
        json: { id: user.userId, ...user },
        human: `Created ${user.role} ${user.username}: ${user.userId}`,
      };
    },
  }),
  adminCommand({
    path: ['user', 'update'],
    summary: "Change a user's role, email or display name (a role change ends their sessions)",
    usage:
      'user update ID [--role learner|teacher|admin] [--email E] [--display-name N] [--url U] [--data-dir D]',
    options: {
      role: { type: 'string' },
      email: { type: 'string' },
      'display-name': { type: 'string' },
    },
    async run(connect, values, positionals) {
      const id = idArgument(positionals, 'usr');
      const role = optionalString(values, 'role');
      const email = optionalString(values, 'email');
      const displayName = optionalString(values, 'display-name');
      if (role === undefined && email === undefined && displayName === undefined) {
        throw new UsageError('say what changes: --role, --email or --display-name');
      }
      const user = await connect().request<UserView>(
        'PATCH',
        `/v1/admin/users/${encodeURIComponent(id)}`,
        {
          ...(role === undefined ? {} : { role }),
          ...(email === undefined ? {} : { email }),
          ...(displayName === undefined ? {} : { displayName }),
        },
      );
      return {
        json: { id: user.userId, ...user },
        human: `Updated ${user.username}: ${user.role}${user.email ? `, ${user.email}` : ''}`,
      };
    },
  }),
  adminCommand({
    path: ['user', 'list'],
    summary: 'List the users of a tenant',
    usage: 'user list [--tenant T] [--url U] [--data-dir D]',
    options: { tenant: { type: 'string' } },
    async run(connect, values) {
      const { users } = await connect().request<{ users: UserView[] }>(
        'GET',
        `/v1/admin/users${tenantQuery(values)}`,
      );
      return {
        json: { users },
        human: table([
          ['ID', 'USERNAME', 'ROLE', 'STATUS', 'LOCKED UNTIL'],
          ...users.map((u) => [u.userId, u.username, u.role, u.status, u.lockedUntil ?? '']),
        ]),
      };
    },
  }),
  ...(Object.keys(USER_ACTIONS) as (keyof typeof USER_ACTIONS)[]).map((action) =>
    adminCommand({
      path: ['user', action],
      summary: USER_ACTIONS[action],
      usage: `user ${action} ID [--reason R] [--url U] [--data-dir D]`,
      options: { reason: { type: 'string' } },
      async run(connect, values, positionals) {
        const id = idArgument(positionals, 'usr');
        const reason = optionalString(values, 'reason');
        const user = await connect().request<UserView>(
          'POST',
          `/v1/admin/users/${encodeURIComponent(id)}/${action}`,
          reason ? { reason } : {},
        );
        return {
          json: { ...user },
          human: `User ${user.userId} is now ${user.status}${user.lockedUntil ? `, locked until ${user.lockedUntil}` : ''}`,
        };
      },
    }),
  ),
];
