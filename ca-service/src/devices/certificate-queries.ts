import type { SqlDatabase } from '../store/sql-database.js';
import { statement } from '../store/statements.js';

/** Every certificate issued to the device, oldest first. */
export async function certificateSerials(db: SqlDatabase, deviceId: string): Promise<string[]> {
  return (
    (await statement(
      db,
      'SELECT serial FROM certificates WHERE device_id = ? ORDER BY not_before',
    ).all(deviceId)) as { serial: string }[]
  ).map((row) => row.serial);
}

/** Every certificate issued to the device, newest first, with its revocation. */
export async function deviceCertificates(
  db: SqlDatabase,
  deviceId: string,
): Promise<
  { serial: string; pem: string; revoked_at: string | null; revoke_reason: string | null }[]
> {
  return (await statement(
    db,
    'SELECT serial, pem, revoked_at, revoke_reason FROM certificates WHERE device_id = ? ORDER BY not_before DESC',
  ).all(deviceId)) as {
    serial: string;
    pem: string;
    revoked_at: string | null;
    revoke_reason: string | null;
  }[];
}

/** The event position of the latest revocation among the issuer's certificates (0: none). */
export async function lastRevokedPosition(db: SqlDatabase, issuerKeyId: string): Promise<number> {
  const row = (await statement(
    db,
    'SELECT COALESCE(MAX(revoked_position), 0) AS position FROM certificates WHERE issuer_key_id = ?',
  ).get(issuerKeyId)) as { position: number };
  return row.position;
}

/** The issuer's certificates revoked at event positions in (after, upTo], in that order. */
export async function revokedCertificatesBetween(
  db: SqlDatabase,
  issuerKeyId: string,
  after: number,
  upTo: number,
): Promise<{ serial: string; revoked_at: string; revoke_reason: string }[]> {
  return (await statement(
    db,
    `SELECT serial, revoked_at, revoke_reason FROM certificates
     WHERE issuer_key_id = ? AND revoked_position > ? AND revoked_position <= ?
     ORDER BY revoked_position`,
  ).all(issuerKeyId, after, upTo)) as {
    serial: string;
    revoked_at: string;
    revoke_reason: string;
  }[];
}

/** Certificates recorded before issuers were tracked are attributed to the given issuer. */
export async function attributeUntrackedCertificates(
  db: SqlDatabase,
  issuerKeyId: string,
): Promise<void> {
  await statement(db, 'UPDATE certificates SET issuer_key_id = ? WHERE issuer_key_id IS NULL').run(
    issuerKeyId,
  );
}
