import type { SqlDatabase } from '../store/sql-database.js';
import { statement } from '../store/statements.js';

/** Every certificate issued to the device, oldest first. */
export function certificateSerials(db: SqlDatabase, deviceId: string): string[] {
  return (
    statement(db, 'SELECT serial FROM certificates WHERE device_id = ? ORDER BY not_before').all(
      deviceId,
    ) as { serial: string }[]
  ).map((row) => row.serial);
}

/** Every certificate issued to the device, newest first, with its revocation. */
export function deviceCertificates(
  db: SqlDatabase,
  deviceId: string,
): { serial: string; pem: string; revoked_at: string | null; revoke_reason: string | null }[] {
  return statement(
    db,
    'SELECT serial, pem, revoked_at, revoke_reason FROM certificates WHERE device_id = ? ORDER BY not_before DESC',
  ).all(deviceId) as {
    serial: string;
    pem: string;
    revoked_at: string | null;
    revoke_reason: string | null;
  }[];
}

/** The event position of the latest revocation among the issuer's certificates (0: none). */
export function lastRevokedPosition(db: SqlDatabase, issuerKeyId: string): number {
  const row = statement(
    db,
    'SELECT COALESCE(MAX(revoked_position), 0) AS position FROM certificates WHERE issuer_key_id = ?',
  ).get(issuerKeyId) as { position: number };
  return row.position;
}

/** The issuer's certificates revoked at event positions in (after, upTo], in that order. */
export function revokedCertificatesBetween(
  db: SqlDatabase,
  issuerKeyId: string,
  after: number,
  upTo: number,
): { serial: string; revoked_at: string; revoke_reason: string }[] {
  return statement(
    db,
    `SELECT serial, revoked_at, revoke_reason FROM certificates
     WHERE issuer_key_id = ? AND revoked_position > ? AND revoked_position <= ?
     ORDER BY revoked_position`,
  ).all(issuerKeyId, after, upTo) as {
    serial: string;
    revoked_at: string;
    revoke_reason: string;
  }[];
}

/** Certificates recorded before issuers were tracked are attributed to the given issuer. */
export function attributeUntrackedCertificates(db: SqlDatabase, issuerKeyId: string): void {
  statement(db, 'UPDATE certificates SET issuer_key_id = ? WHERE issuer_key_id IS NULL').run(
    issuerKeyId,
  );
}
