import type { SqlDatabase } from '../store/sql-database.js';
import { statement } from '../store/statements.js';

export type DeviceAssurance = 'software' | 'hardware' | 'attested';

/** The tier recorded at enrollment, or undefined for a device the CA never enrolled. */
export async function recordedAssurance(
  db: SqlDatabase,
  deviceId: string,
): Promise<DeviceAssurance | undefined> {
  const row = (await statement(db, 'SELECT assurance FROM devices WHERE device_id = ?').get(
    deviceId,
  )) as { assurance: DeviceAssurance } | undefined;
  return row?.assurance;
}

/** The name given at enrollment; null when it had none or the device is unknown. */
export async function recordedDeviceName(
  db: SqlDatabase,
  deviceId: string,
): Promise<string | null> {
  const row = (await statement(db, 'SELECT name FROM devices WHERE device_id = ?').get(
    deviceId,
  )) as { name: string | null } | undefined;
  return row?.name ?? null;
}

/** Active devices whose binding certificate expires after `from` and by `to`. */
export async function countActiveDevicesExpiringBetween(
  db: SqlDatabase,
  from: string,
  to: string,
): Promise<number> {
  const row = (await statement(
    db,
    "SELECT COUNT(*) AS n FROM devices WHERE status = 'active' AND cert_expires_at > ? AND cert_expires_at <= ?",
  ).get(from, to)) as { n: number };
  return row.n;
}

/** Device figures of a tenant (null: all tenants); `expiringSoon` counts active ones expiring before the date. */
export async function deviceCounts(
  db: SqlDatabase,
  tenantId: string | null,
  expiringBefore: string,
): Promise<{ enrolled: number; active: number; revoked: number; expiringSoon: number }> {
  const figures = `SELECT COUNT(*) AS enrolled,
                          COUNT(CASE WHEN status = 'active' THEN 1 END) AS active,
                          COUNT(CASE WHEN status = 'revoked' THEN 1 END) AS revoked,
                          COUNT(CASE WHEN status = 'active' AND cert_expires_at < ? THEN 1 END)
                            AS "expiringSoon"
                   FROM devices`;
  return (
    tenantId === null
      ? await statement(db, figures).get(expiringBefore)
      : await statement(db, `${figures} WHERE tenant_id = ?`).get(expiringBefore, tenantId)
  ) as { enrolled: number; active: number; revoked: number; expiringSoon: number };
}

/** The active devices of a tenant (null: all tenants). */
export async function activeDeviceIds(db: SqlDatabase, tenantId: string | null): Promise<string[]> {
  const rows = (
    tenantId === null
      ? await statement(db, "SELECT device_id FROM devices WHERE status = 'active'").all()
      : await statement(
          db,
          "SELECT device_id FROM devices WHERE tenant_id = ? AND status = 'active'",
        ).all(tenantId)
  ) as { device_id: string }[];
  return rows.map((row) => row.device_id);
}

/**
 * The first 5000 devices of a tenant (null: all tenants) by enrollment, each with when the CA
 * last saw it on its own record: enrolled or issued a certificate, whichever came last.
 */
export async function deviceEnrolments(
  db: SqlDatabase,
  tenantId: string | null,
): Promise<{ deviceId: string; lastSeenAt: string }[]> {
  const lastCertificate =
    '(SELECT MAX(not_before) FROM certificates c WHERE c.device_id = d.device_id)';
  const select = `SELECT d.device_id AS "deviceId",
                         CASE WHEN ${lastCertificate} > d.enrolled_at THEN ${lastCertificate}
                              ELSE d.enrolled_at END AS "lastSeenAt"
                  FROM devices d`;
  const order = 'ORDER BY d.enrolled_at LIMIT 5000';
  return (
    tenantId === null
      ? await statement(db, `${select} ${order}`).all()
      : await statement(db, `${select} WHERE d.tenant_id = ? ${order}`).all(tenantId)
  ) as { deviceId: string; lastSeenAt: string }[];
}
