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

/**
 * Non-critical extension in binding certificates naming the device key's assurance tier, DER
 * `UTF8String` (`software`, `hardware` or `attested`). `hardware` without attestation is the
 * tier the agent claimed at enrollment: the CA records and certifies the claim, not a proof.
 */
export const OID_EXT_LANTERN_KEY_ASSURANCE = `${LANTERN_OID_ARC}.3`;

export const KEY_ASSURANCE_TIERS = ['software', 'hardware', 'attested'] as const;
export type KeyAssuranceTier = (typeof KEY_ASSURANCE_TIERS)[number];

/** The tier a binding certificate states; null when it has no (or a malformed) extension. */
export function keyAssuranceOf(
  extensions: readonly { oid: string; value: Uint8Array }[],
): KeyAssuranceTier | null {
  const extension = extensions.find((entry) => entry.oid === OID_EXT_LANTERN_KEY_ASSURANCE);
  const value = extension?.value;
  // UTF8String (0x0c), short form length, ASCII tier name.
  if (
    value === undefined ||
    value.length < 2 ||
    value[0] !== 0x0c ||
    value[1] !== value.length - 2
  ) {
    return null;
  }
  const tier = Buffer.from(value.subarray(2)).toString('utf8');
  return (KEY_ASSURANCE_TIERS as readonly string[]).includes(tier)
    ? (tier as KeyAssuranceTier)
    : null;
}

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
