import type { Command } from '@lantern/shared';
import { adminCommand } from '../admin-command.js';
import { idArgument } from '../command-kit.js';

/** A session and its offline counterpart, a grant, are revoked the same way. */
export const sessionCommands: Command[] = (['session', 'grant'] as const).map((kind) =>
  adminCommand({
    path: [kind, 'revoke'],
    summary:
      kind === 'session'
        ? 'Revoke a session (online at once, on devices at their next sync)'
        : 'Revoke an offline grant',
    usage: `${kind} revoke ID [--url U] [--data-dir D]`,
    options: {},
    async run(connect, _values, positionals) {
      const id = idArgument(positionals, kind === 'session' ? 'ses' : 'grt');
      const result = await connect().request<Record<string, unknown>>(
        'POST',
        `/v1/admin/${kind}s/${encodeURIComponent(id)}/revoke`,
        {},
      );
      return { json: result, human: `${kind} ${id} revoked` };
    },
  }),
);
