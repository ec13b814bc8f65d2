import { createHash } from 'node:crypto';

/** Lower-case hex SHA-256 of a DER certificate: the form admins compare and agents pin. */
export function certificateFingerprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}
