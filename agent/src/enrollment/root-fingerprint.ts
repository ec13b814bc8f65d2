const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The form agents pin and compare: lower-case hex without separators. Admins may paste it as
 * printed by `lantern-ca init`, in upper case, or colon-separated as openssl prints it; anything
 * that is not then 64 hex digits is null, never a partial match.
 */
export function normalizeFingerprint(text: string): string | null {
  const compact = text.trim().replace(/:/g, '').toLowerCase();
  return SHA256_HEX.test(compact) ? compact : null;
}
