import { UsageError, thumbprint } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import type { TokenKeyView } from '../../tokens/key-ring.js';
import { adminCommand } from '../admin-command.js';
import { table } from '../command-kit.js';

export const keysCommands: Command[] = [
  adminCommand({
    path: ['keys', 'list'],
    summary: 'List the token signing keys: kid, status and times (never key material)',
    usage: 'keys list [--url U] [--data-dir D]',
    options: {},
    async run(connect) {
      const { keys } = await connect().request<{ keys: TokenKeyView[] }>('GET', '/v1/admin/keys');
      return {
        json: { keys },
        human: table([
          ['KID', 'STATUS', 'SIGNS SINCE', 'RETIRED', 'LEAVES THE JWKS'],
          ...keys.map((key) => [
            key.kid,
            key.status,
            key.activatedAt ?? '',
            key.retiredAt ?? '',
            key.removeAfter ?? '',
          ]),
        ]),
      };
    },
  }),
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
  adminCommand({
    path: ['keys', 'revoke'],
    summary:
      'Revoke a compromised token signing key: out of the JWKS at once, every token it signed stops verifying',
    // A kid is base64url: one that starts with '-' goes after '--'.
    usage: 'keys revoke [--url U] [--data-dir D] [--] KID',
    options: {},
    async run(connect, _values, positionals) {
      const [kid] = positionals;
      if (kid === undefined || !new RegExp(String(thumbprint['pattern'])).test(kid)) {
        throw new UsageError('name the key to revoke: keys revoke [--] KID (a kid from keys list)');
      }
      const result = await connect().request<{ activeKid: string; removedKids: string[] }>(
        'POST',
        `/v1/admin/keys/${encodeURIComponent(kid)}/revoke`,
        {},
      );
      return {
        json: result,
        human: [
          `Token key ${kid} revoked: access tokens and offline grants it signed no longer verify.`,
          `Now signing with ${result.activeKid}. Apps get new access tokens by refreshing. Devices`,
          'drop the key at their next sync, ending the sessions under its grants; those users sign',
          'in online once to get new offline grants.',
        ].join('\n'),
      };
    },
  }),
  adminCommand({
    path: ['keys', 'replace'],
    summary:
      'Replace every token signing key at once (a leak of the key store): every token stops verifying',
    usage: 'keys replace --yes [--url U] [--data-dir D]',
    options: { yes: { type: 'boolean' } },
    async run(connect, values) {
      if (values['yes'] !== true) {
        throw new UsageError(
          'keys replace invalidates every access token and offline grant, and ends every device session at its next sync: add --yes',
        );
      }
      const result = await connect().request<{ activeKid: string; removedKids: string[] }>(
        'POST',
        '/v1/admin/keys/replace',
        {},
      );
      return {
        json: result,
        human: [
          `Every token key replaced (${result.removedKids.length} removed); now signing with ${result.activeKid}.`,
          'Every access token and offline grant signed before stops verifying. Apps get new access',
          'tokens by refreshing; devices drop the old keys at their next sync, ending the sessions',
          'under their grants, and those users sign in online once to get new offline grants.',
        ].join('\n'),
      };
    },
  }),
];
