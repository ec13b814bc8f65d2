import type { Command } from '@lantern/shared';
import { adminCommand } from '../admin-command.js';

export const keysCommands: Command[] = [
  adminCommand({
    path: ['keys', 'rotate'],
    summary:
      'Rotate the token signing keys now (the next key starts signing; the old one stays published)',
    usage: 'keys rotate [--url U] [--data-dir D]',
    options: {},
    async run(connect) {
      const result = await connect().request<{ activeKid: string }>(
        'POST',
        '/v1/admin/keys/rotate',
        {},
      );
      return { json: result, human: `Token keys rotated; now signing with ${result.activeKid}` };
    },
  }),
];
