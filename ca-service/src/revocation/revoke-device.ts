import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { certificateSerials } from '../devices/certificate-queries.js';
import type { DeviceRevocationReason, DeviceView } from '../devices/devices.js';
import { getDevice } from '../devices/devices.js';
import { DeviceAlreadyRevokedError } from '../errors.js';
import { retireTotpSealedOnDevice } from '../mfa/totp-removal.js';

export function revokeDevice(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  input: { deviceId: string; tenantId: string | null; reason: DeviceRevocationReason },
  meta: CommandMeta,
): Promise<DeviceView> {
  return ctx.store.transaction(async () => {
    const device = await getDevice(ctx, input.deviceId, input.tenantId);
    if (device.status === 'revoked') throw new DeviceAlreadyRevokedError();
    const serials = await certificateSerials(ctx.store.db, device.deviceId);
    await ctx.store.append([
      {
        eventType: 'identity.device.revoked',
        aggregateId: device.deviceId,
        tenantId: device.tenantId,
        ...meta,
        payload: {
          deviceId: device.deviceId,
          reason: input.reason,
          revokedAt: isoNow(ctx.clock),
          certificateSerials: serials,
        },
      },
    ]);
    await retireTotpSealedOnDevice(ctx, device.deviceId, meta);
    return getDevice(ctx, device.deviceId, null);
  });
}
