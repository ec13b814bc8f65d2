import type { SqlDatabase } from '../store/sql-database.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type TokenPurpose = 'password_reset' | 'email_verification';

/** How long a link works: a reset is a takeover risk, so it is short; a verification less so. */
export const TOKEN_TTL_SECONDS: Readonly<Record<TokenPurpose, number>> = {
  password_reset: 30 * 60,
  email_verification: 24 * 3600,
};

export interface IssuedToken {
  /** `<id>.<secret>`, for the mail only: never stored, logged or put in an event. */
  token: string;
  tokenId: string;
  /** SHA-256 of the secret part (hex): what the store and the events keep. */
  secretHash: string;
}

export interface TokenRow {
  token_id: string;
  purpose: TokenPurpose;
  tenant_id: string;
  user_id: string;
  secret_hash: string;
  email: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}

/** One mail per account and purpose within this time: asking again cannot flood a mailbox. */
export const RESEND_AFTER_SECONDS = 60;

/** Whether a token of this purpose was issued to the user within `RESEND_AFTER_SECONDS`. */
export async function issuedRecently(
  db: SqlDatabase,
  userId: string,
  purpose: TokenPurpose,
  nowMs: number,
): Promise<boolean> {
  const since = new Date(nowMs - RESEND_AFTER_SECONDS * 1000).toISOString();
  return (
    (await db
      .prepare(
        'SELECT 1 FROM self_service_tokens WHERE user_id = ? AND purpose = ? AND created_at > ? LIMIT 1',
      )
      .get(userId, purpose, since)) !== undefined
  );
}

const TOKEN_FORMAT = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

const sha256Hex = (value: string): string => createHash('sha256').update(value).digest('hex');

export function newToken(): IssuedToken {
  const tokenId = randomBytes(16).toString('base64url');
  const secret = randomBytes(32).toString('base64url');
  return { token: `${tokenId}.${secret}`, tokenId, secretHash: sha256Hex(secret) };
}

/**
 * Stores an issued token and retires the user's earlier ones of the same purpose: only the
 * newest link works.
 */
export async function storeToken(
  db: SqlDatabase,
  issued: IssuedToken,
  row: Omit<TokenRow, 'token_id' | 'secret_hash' | 'used_at'>,
): Promise<void> {
  await db
    .prepare(
      `UPDATE self_service_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL`,
    )
    .run(row.created_at, row.user_id, row.purpose);
  await db
    .prepare(
      `INSERT INTO self_service_tokens (token_id, purpose, tenant_id, user_id, secret_hash, email, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      issued.tokenId,
      row.purpose,
      row.tenant_id,
      row.user_id,
      issued.secretHash,
      row.email,
      row.created_at,
      row.expires_at,
    );
}

/**
 * The token's row when the token is well formed, known, of this purpose, unused and unexpired,
 * else null: one answer for every failure, so a caller learns nothing about which. The secret's
 * hash is compared in constant time; the id only finds the row.
 */
export async function findUsableToken(
  db: SqlDatabase,
  token: string,
  purpose: TokenPurpose,
  now: string,
): Promise<TokenRow | null> {
  const match = TOKEN_FORMAT.exec(token);
  if (!match) return null;
  const row = (await db
    .prepare('SELECT * FROM self_service_tokens WHERE token_id = ?')
    .get(match[1])) as TokenRow | undefined;
  const presented = Buffer.from(sha256Hex(match[2] ?? ''), 'hex');
  const stored = Buffer.from(row?.secret_hash ?? '0'.repeat(64), 'hex');
  const same = timingSafeEqual(presented, stored);
  if (!row || !same || row.purpose !== purpose || row.used_at !== null || row.expires_at <= now)
    return null;
  return row;
}

/** Marks the token used; false when another request used it first (single use under races). */
export async function consumeToken(
  db: SqlDatabase,
  tokenId: string,
  now: string,
): Promise<boolean> {
  return (
    (
      await db
        .prepare(
          'UPDATE self_service_tokens SET used_at = ? WHERE token_id = ? AND used_at IS NULL',
        )
        .run(now, tokenId)
    ).changes === 1
  );
}
