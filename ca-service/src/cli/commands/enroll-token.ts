import { optionalString, parseDurationWithin } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import type { EnrollmentTokenView } from '../../enrollment/enrollment-tokens.js';
import { MAX_TOKEN_TTL_SECONDS } from '../../enrollment/enrollment-tokens.js';
import { adminCommand, tenantQuery } from '../admin-command.js';
import { idArgument, table } from '../command-kit.js';

export const enrollTokenCommands: Command[] = [
  adminCommand({
    path: ['enroll-token', 'create'],
    summary: 'Create a one-time device enrollment token',
    usage:
      'enroll-token create --tenant T [--ttl 1h] [--name DEVICE_NAME] [--url U] [--data-dir D]',
    options: {
      tenant: { type: 'string' },
      ttl: { type: 'string' },
      name: { type: 'string' },
    },
    async run(connect, values) {
      const name = optionalString(values, 'name');
      const tenant = optionalString(values, 'tenant');
      const ttlSeconds = parseDurationWithin('ttl', optionalString(values, 'ttl') ?? '1h', {
        min: 60,
        max: MAX_TOKEN_TTL_SECONDS,
      });
      const created = await connect().request<{
        token: string;
        tokenId: string;
        tenantId: string;
        expiresAt: string;
        enrollmentUri: string;
        enrollCommand: string;
      }>('POST', '/v1/admin/enrollment-tokens', {
        ...(tenant ? { tenant } : {}),
        ttlSeconds,
        ...(name ? { deviceName: name } : {}),
      });
      if (values['json']) return { json: created, human: '' };
      // Loaded only here: the other commands need no QR encoder at start-up.
      const QRCode = await import('qrcode');
      const qr = await QRCode.toString(created.enrollmentUri, { type: 'terminal', small: true });
      return {
        json: created,
        human: [
          `Enrollment token for tenant ${created.tenantId}, valid until ${created.expiresAt} (one use):`,
          `  ${created.token}`,
          ``,
          `On the device (the fingerprint pins the CA's root, so no other CA can answer):`,
          `  ${created.enrollCommand}`,
          ``,
          `Or scan this code with the device (lantern-agent enroll --qr FILE, or --uri):`,
          qr.trimEnd(),
          `  ${created.enrollmentUri}`,
        ].join('\n'),
      };
    },
  }),
  adminCommand({
    path: ['enroll-token', 'list'],
    summary: 'List enrollment tokens of a tenant',
    usage: 'enroll-token list [--tenant T] [--url U] [--data-dir D]',
    options: { tenant: { type: 'string' } },
    async run(connect, values) {
      const { tokens } = await connect().request<{ tokens: EnrollmentTokenView[] }>(
        'GET',
        `/v1/admin/enrollment-tokens${tenantQuery(values)}`,
      );
      return {
        json: { tokens },
        human: table([
          ['ID', 'STATUS', 'EXPIRES', 'DEVICE'],
          ...tokens.map((t) => [
            t.tokenId,
            t.status,
            t.expiresAt,
            t.deviceId ?? t.deviceName ?? '',
          ]),
        ]),
      };
    },
  }),
  adminCommand({
    path: ['enroll-token', 'revoke'],
    summary: 'Revoke an unused enrollment token',
    usage: 'enroll-token revoke ID [--url U] [--data-dir D]',
    options: {},
    async run(connect, _values, positionals) {
      const id = idArgument(positionals, 'tok');
      const token = await connect().request<EnrollmentTokenView>(
        'POST',
        `/v1/admin/enrollment-tokens/${encodeURIComponent(id)}/revoke`,
        {},
      );
      return { json: { ...token }, human: `Token ${token.tokenId} is ${token.status}` };
    },
  }),
];
