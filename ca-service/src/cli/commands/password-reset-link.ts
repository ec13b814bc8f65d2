import type { Command } from '@lantern/shared';
import { adminCommand } from '../admin-command.js';
import { idArgument } from '../command-kit.js';

export const passwordResetLinkCommand: Command = adminCommand({
  path: ['user', 'send-reset-link'],
  summary: 'Mail a user a single-use link to choose a new password (needs serve --smtp-url)',
  usage: 'user send-reset-link USER_ID [--url U] [--data-dir D]',
  options: {},
  async run(connect, _values, positionals) {
    const id = idArgument(positionals, 'usr');
    const answer = await connect().request<{ queued: boolean; expiresAt: string }>(
      'POST',
      `/v1/admin/users/${encodeURIComponent(id)}/password-reset-link`,
      {},
    );
    return {
      json: answer,
      human: `reset link mailed to ${id}; it works until ${answer.expiresAt}`,
    };
  },
});
