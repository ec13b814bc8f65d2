import { optionalString, parseDurationWithin, requireString } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import { adminCommand } from '../admin-command.js';
import { idArgument } from '../command-kit.js';

/** As `POST /v1/admin/api-keys` accepts them. */
const API_KEY_TTL = { min: 60, max: 366 * 86_400 };

export const apiKeyCommands: Command[] = [
  adminCommand({
    path: ['api-key', 'create'],
    summary: 'Create an admin API key (shown once)',
    usage:
      'api-key create --scopes admin|devices:read,... [--tenant T] [--name N] [--ttl 90d] [--url U] [--data-dir D]',
    options: {
      scopes: { type: 'string' },
      tenant: { type: 'string' },
      name: { type: 'string' },
      ttl: { type: 'string' },
    },
    async run(connect, values) {
      const tenant = optionalString(values, 'tenant');
      const name = optionalString(values, 'name');
      const ttl = optionalString(values, 'ttl');
      const created = await connect().request<{
        keyId: string;
        apiKey: string;
        prefix: string;
        tenantId: string | null;
      }>('POST', '/v1/admin/api-keys', {
        scopes: requireString(values, 'scopes')
          .split(',')
          .map((scope) => scope.trim()),
        ...(tenant ? { tenant } : {}),
        ...(name ? { name } : {}),
        ...(ttl ? { ttlSeconds: parseDurationWithin('ttl', ttl, API_KEY_TTL) } : {}),
      });
      return {
        json: created,
        human: `API key ${created.keyId} (shown once, store it now):\n  ${created.apiKey}`,
      };
    },
  }),
  adminCommand({
    path: ['api-key', 'revoke'],
    summary: 'Revoke an admin API key',
    usage: 'api-key revoke KEY_ID [--url U] [--data-dir D]',
    options: {},
    async run(connect, _values, positionals) {
      const id = idArgument(positionals, 'key');
      const result = await connect().request<Record<string, unknown>>(
        'POST',
        `/v1/admin/api-keys/${encodeURIComponent(id)}/revoke`,
        {},
      );
      return { json: result, human: `API key ${id} revoked` };
    },
  }),
];
