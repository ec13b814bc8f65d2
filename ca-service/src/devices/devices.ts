import type { CaContext } from '../context/ca-context.js';
import { DeviceNotFoundError, DeviceRevokedError } from '../errors.js';
import { statement } from '../store/statements.js';

export const DEVICE_REVOCATION_REASONS = [
  'lost',
  'stolen',
  'compromised',
  'decommissioned',
  'admin',
] as const;
export type DeviceRevocationReason = (typeof DEVICE_REVOCATION_REASONS)[number];

export interface DeviceView {
  deviceId: string;
  tenantId: string;
  name: string | null;
  status: 'active' | 'revoked';
  keyThumbprint: string;
  assurance: string;
  currentSerial: string | null;
  certExpiresAt: string | null;
  enrolledAt: string;
  revokedAt: string | null;
  revokeReason: string | null;
}

interface DeviceRow {
  device_id: string;
  tenant_id: string;
  name: string | null;
  status: 'active' | 'revoked';
  key_thumbprint: string;
  assurance: string;
  current_serial: string | null;
  cert_expires_at: string | null;
  enrolled_at: string;
  revoked_at: string | null;
  revoke_reason: string | null;
}

const toView = (row: DeviceRow): DeviceView => ({
  deviceId: row.device_id,
  tenantId: row.tenant_id,
  name: row.name,
  status: row.status,
  keyThumbprint: row.key_thumbprint,
  assurance: row.assurance,
  currentSerial: row.current_serial,
  certExpiresAt: row.cert_expires_at,
  enrolledAt: row.enrolled_at,
  revokedAt: row.revoked_at,
  revokeReason: row.revoke_reason,
});

/**
 * The device the CA issued the certificate to, as it stands now; undefined for a serial it never
 * issued. One read where a device proof's check needs both.
 */
export async function certificateHolder(
  ctx: Pick<CaContext, 'store'>,
  serial: string,
): Promise<DeviceView | undefined> {
  const row = (await statement(
    ctx.store.db,
    `SELECT d.* FROM certificates AS c JOIN devices AS d ON d.device_id = c.device_id
     WHERE c.serial = ?`,
  ).get(serial)) as DeviceRow | undefined;
  return row === undefined ? undefined : toView(row);
}

/** A device of another tenant is reported as not found: its existence is not the caller's business. */
export async function getDevice(
  ctx: Pick<CaContext, 'store'>,
  deviceId: string,
  tenantId: string | null,
): Promise<DeviceView> {
  const row = (await ctx.store.db
    .prepare('SELECT * FROM devices WHERE device_id = ?')
    .get(deviceId)) as DeviceRow | undefined;
  if (!row || (tenantId !== null && row.tenant_id !== tenantId)) throw new DeviceNotFoundError();
  return toView(row);
}

/**
 * Refuses a device revoked since its proof was checked. What a proof allows (a certificate, a
 * session, a grant) is recorded in a transaction that calls this first: a revocation committed
 * while the certificate was being signed or a password hashed wins, and every certificate the
 * device holds stays one the revocation covers.
 */
export async function assertDeviceNotRevoked(
  ctx: Pick<CaContext, 'store'>,
  deviceId: string,
): Promise<void> {
  if (await isDeviceRevoked(ctx, deviceId)) throw new DeviceRevokedError();
}

export async function isDeviceRevoked(
  ctx: Pick<CaContext, 'store'>,
  deviceId: string,
): Promise<boolean> {
  const row = (await statement(ctx.store.db, 'SELECT status FROM devices WHERE device_id = ?').get(
    deviceId,
  )) as { status: string } | undefined;
  return row?.status === 'revoked';
}

export async function listDevices(
  ctx: Pick<CaContext, 'store'>,
  tenantId: string | null,
  limit = 1000,
): Promise<DeviceView[]> {
  const rows = (
    tenantId === null
      ? await ctx.store.db.prepare('SELECT * FROM devices ORDER BY enrolled_at LIMIT ?').all(limit)
      : await ctx.store.db
          .prepare('SELECT * FROM devices WHERE tenant_id = ? ORDER BY enrolled_at LIMIT ?')
          .all(tenantId, limit)
  ) as DeviceRow[];
  return rows.map(toView);
}
