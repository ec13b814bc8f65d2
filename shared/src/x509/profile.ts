/**
 * Lantern's private OID arc: 2.25.<UUID as an integer> (ITU-T X.667), so no registration is
 * needed and no collision is possible. UUID 883c931f-10d4-40dc-be21-baeecaec26c1.
 */
export const LANTERN_OID_ARC = '2.25.181089529213753781844715235057918027457';

/** Extended key usage for device binding certificates (alongside id-kp-clientAuth). */
export const OID_EKU_LANTERN_DEVICE_BINDING = `${LANTERN_OID_ARC}.1`;

/**
 * Non-critical extension in binding certificates carrying the offline policy, DER:
 * `SEQUENCE { tenantId UTF8String, deviceId UTF8String, maxOfflineSeconds INTEGER }`.
 */
export const OID_EXT_LANTERN_OFFLINE_POLICY = `${LANTERN_OID_ARC}.2`;

export const OID_EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const OID_EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const OID_EKU_ANY = '2.5.29.37.0';

export function deviceUri(tenantId: string, deviceId: string): string {
  return `urn:lantern:device:${tenantId}:${deviceId}`;
}

const DEVICE_URI = /^urn:lantern:device:(ten_[0-9A-HJKMNP-TV-Z]{26}):(dev_[0-9A-HJKMNP-TV-Z]{26})$/;

export function parseDeviceUri(uri: string): { tenantId: string; deviceId: string } | null {
  const match = DEVICE_URI.exec(uri);
  return match ? { tenantId: match[1] ?? '', deviceId: match[2] ?? '' } : null;
}
