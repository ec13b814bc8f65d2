/** The reasons an admin may give for revoking a device; metrics start a series for each. */
export const DEVICE_REVOCATION_REASONS = [
  'lost',
  'stolen',
  'compromised',
  'decommissioned',
  'admin',
] as const;
export type DeviceRevocationReason = (typeof DEVICE_REVOCATION_REASONS)[number];
