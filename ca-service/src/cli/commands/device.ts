import { requireOneOf } from '@lantern/shared';
import type { Command } from '@lantern/shared';
import type { DeviceView } from '../../devices/devices.js';
import { DEVICE_REVOCATION_REASONS } from '../../devices/devices.js';
import { adminCommand, tenantQuery } from '../admin-command.js';
import { idArgument, table } from '../command-kit.js';

export const deviceCommands: Command[] = [
  adminCommand({
    path: ['device', 'list'],
    summary: 'List enrolled devices',
    usage: 'device list [--tenant T] [--url U] [--data-dir D]',
    options: { tenant: { type: 'string' } },
    async run(connect, values) {
      const { devices } = await connect().request<{ devices: DeviceView[] }>(
        'GET',
        `/v1/admin/devices${tenantQuery(values)}`,
      );
      return {
        json: { devices },
        human:
          devices.length === 0
            ? 'No devices enrolled yet.'
            : table([
                ['ID', 'STATUS', 'NAME', 'CERT EXPIRES', 'TENANT'],
                ...devices.map((d) => [
                  d.deviceId,
                  d.status,
                  d.name ?? '',
                  d.certExpiresAt ?? '',
                  d.tenantId,
                ]),
              ]),
      };
    },
  }),
  adminCommand({
    path: ['device', 'revoke'],
    summary: 'Revoke a device: its certificates go on the CRL and the feed tells its agent',
    usage:
      'device revoke ID --reason lost|stolen|compromised|decommissioned|admin [--url U] [--data-dir D]',
    options: { reason: { type: 'string' } },
    async run(connect, values, positionals) {
      const id = idArgument(positionals, 'dev');
      const reason = requireOneOf(values, 'reason', DEVICE_REVOCATION_REASONS);
      const device = await connect().request<DeviceView>(
        'POST',
        `/v1/admin/devices/${encodeURIComponent(id)}/revoke`,
        { reason },
      );
      return {
        json: { ...device },
        human: `Revoked device ${device.deviceId} (${device.revokeReason}). Its agent stops signing anyone in at its next sync.`,
      };
    },
  }),
];
