import type { SqlDatabase, SqlReader } from '../store/sql-database.js';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** What identifies a person: kept out of events in clear so that erasure can really erase. */
export interface PersonalData {
  username: string;
  email?: string;
  displayName?: string;
}

const FORMAT = /^pii1\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/;

async function keyOf(db: SqlReader, userId: string): Promise<Buffer | undefined> {
  const row = (await db
    .prepare('SELECT subject_key FROM subject_keys WHERE user_id = ?')
    .get(userId)) as { subject_key: Buffer } | undefined;
  return row?.subject_key;
}

/**
 * Crypto-shredding for GDPR erasure: each user's personal fields are sealed in the events with
 * a key of their own (AES-256-GCM, AAD = user id) kept beside the events. Erasure destroys the
 * key, so the append-only, hash-chained events stay intact and verifiable while what they said
 * about the person becomes unreadable, and a replay rebuilds the anonymised user.
 */
export async function sealPersonalData(
  db: SqlDatabase,
  userId: string,
  data: PersonalData,
  createdAt: string,
): Promise<string> {
  let key = await keyOf(db, userId);
  if (!key) {
    key = randomBytes(32);
    await db
      .prepare('INSERT INTO subject_keys (user_id, subject_key, created_at) VALUES (?, ?, ?)')
      .run(userId, key, createdAt);
  }
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(userId));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(data), 'utf8'), cipher.final()]);
  return `pii1.${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}

/** Null once the user was erased (their key is gone) or when the value does not open. */
export async function openPersonalData(
  db: SqlReader,
  userId: string,
  sealed: string,
): Promise<PersonalData | null> {
  const match = FORMAT.exec(sealed);
  const key = await keyOf(db, userId);
  if (!match || !key) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(match[1] ?? '', 'base64url'))
      .setAAD(Buffer.from(userId))
      .setAuthTag(Buffer.from(match[3] ?? '', 'base64url'));
    const plain = Buffer.concat([
      decipher.update(Buffer.from(match[2] ?? '', 'base64url')),
      decipher.final(),
    ]);
    return JSON.parse(plain.toString('utf8')) as PersonalData;
  } catch {
    return null;
  }
}

export async function forgetPersonalData(db: SqlDatabase, userId: string): Promise<void> {
  await db.prepare('DELETE FROM subject_keys WHERE user_id = ?').run(userId);
}
