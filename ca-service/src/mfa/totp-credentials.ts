import type { TotpAlgorithm, TotpParameters, TotpVerdict } from '@lantern/shared';
import { verifyTotp } from '@lantern/shared';
import type { SqlDatabase } from '../store/sql-database.js';
import type { CaContext } from '../context/ca-context.js';
import { TOTP_DEFAULTS, generateTotpSecret } from './totp.js';

/** Accepted clock difference between the CA and the authenticator app: one step either way. */
export const TOTP_WINDOW = 1;
/** An enrolment not confirmed within this time has to start again. */
export const PENDING_TOTP_SECONDS = 15 * 60;

export interface TotpRow {
  user_id: string;
  status: 'pending' | 'active';
  tenant_id: string;
  sealed_secret: string;
  algorithm: TotpAlgorithm;
  digits: number;
  period: number;
  last_used_step: number | null;
  created_at: string;
  confirmed_at: string | null;
}

/** Additional data of the sealed secret: a value moved to another user's row does not open. */
const sealingContext = (userId: string) => `totp:${userId}`;

export async function totpRow(
  db: SqlDatabase,
  userId: string,
  status: TotpRow['status'],
): Promise<TotpRow | undefined> {
  return (await db
    .prepare('SELECT * FROM totp_credentials WHERE user_id = ? AND status = ?')
    .get(userId, status)) as TotpRow | undefined;
}

export const hasActiveTotp = async (db: SqlDatabase, userId: string): Promise<boolean> =>
  (await totpRow(db, userId, 'active')) !== undefined;

export function totpParameters(ctx: Pick<CaContext, 'secretBox'>, row: TotpRow): TotpParameters {
  return {
    secret: ctx.secretBox.open(row.sealed_secret, sealingContext(row.user_id)),
    algorithm: row.algorithm,
    digits: row.digits,
    period: row.period,
  };
}

/** Writes (or replaces) the pending secret of a user; the active one, if any, stays in force. */
export async function storePendingTotp(
  ctx: Pick<CaContext, 'clock' | 'secretBox' | 'store'>,
  user: { user_id: string; tenant_id: string },
): Promise<TotpParameters> {
  const params: TotpParameters = { secret: generateTotpSecret(), ...TOTP_DEFAULTS };
  await ctx.store.db
    .prepare(
      `INSERT INTO totp_credentials (user_id, status, tenant_id, sealed_secret, algorithm, digits, period, last_used_step, created_at)
       VALUES (?, 'pending', ?, ?, ?, ?, ?, NULL, ?)
       ON CONFLICT (user_id, status) DO UPDATE SET sealed_secret = excluded.sealed_secret,
         algorithm = excluded.algorithm, digits = excluded.digits, period = excluded.period,
         last_used_step = NULL, created_at = excluded.created_at`,
    )
    .run(
      user.user_id,
      user.tenant_id,
      ctx.secretBox.seal(params.secret, sealingContext(user.user_id)),
      params.algorithm,
      params.digits,
      params.period,
      new Date(ctx.clock.now()).toISOString(),
    );
  return params;
}

/**
 * Checks a code against a row and, when it is good, records its step as used: the update only
 * succeeds while the stored step is still older, so two requests racing with one code (even
 * from two processes on one database) cannot both pass. Call inside a transaction.
 */
export async function consumeTotpCode(
  ctx: Pick<CaContext, 'clock' | 'secretBox' | 'store'>,
  row: TotpRow,
  code: string,
): Promise<TotpVerdict> {
  const params = totpParameters(ctx, row);
  const verdict = verifyTotp(params, code, Math.floor(ctx.clock.now() / 1000), {
    window: TOTP_WINDOW,
    lastUsedStep: row.last_used_step,
  });
  if (!verdict.ok) return verdict;
  const changed = (
    await ctx.store.db
      .prepare(
        `UPDATE totp_credentials SET last_used_step = ?
       WHERE user_id = ? AND status = ? AND (last_used_step IS NULL OR last_used_step < ?)`,
      )
      .run(verdict.step, row.user_id, row.status, verdict.step)
  ).changes;
  return changed === 1 ? verdict : { ok: false, reason: 'replayed' };
}

/** Makes the pending secret the active one (replacing an older active secret). */
export async function promotePendingTotp(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  userId: string,
): Promise<void> {
  const db = ctx.store.db;
  await db
    .prepare("DELETE FROM totp_credentials WHERE user_id = ? AND status = 'active'")
    .run(userId);
  await db
    .prepare(
      "UPDATE totp_credentials SET status = 'active', confirmed_at = ? WHERE user_id = ? AND status = 'pending'",
    )
    .run(new Date(ctx.clock.now()).toISOString(), userId);
}

export async function deleteTotp(ctx: Pick<CaContext, 'store'>, userId: string): Promise<number> {
  return (await ctx.store.db.prepare('DELETE FROM totp_credentials WHERE user_id = ?').run(userId))
    .changes;
}
