import type { OfflineTotpSecret, TotpAlgorithm, TotpVerdict } from '@lantern/shared';
import { base32Decode, verifyTotp } from '@lantern/shared';
import { SealedDataInvalidError } from '../errors.js';
import type { DataKey } from '../keys/data-key.js';
import { sealedColumn } from '../keys/sealed-columns.js';
import type { AgentStore } from '../store/agent-store.js';

/** Steps either side of now a code may come from (RFC 6238 §5.2: one step of network delay). */
export const TOTP_WINDOW_STEPS = 1;

/** `verifiers.params_json` of a TOTP row: everything but the secret. */
interface TotpParams {
  algorithm: TotpAlgorithm;
  digits: number;
  period: number;
}

/**
 * Offline TOTP (docs/architecture.md §4) for the users with a grant on this device. The secret, from the box
 * the CA sealed to the device key beside a grant, is kept as a `verifiers` row of kind `totp`
 * sealed with the data key, so every wipe of verifiers and the crypto-shred take it too. The
 * highest accepted time step per user lives in `totp_steps`, apart from the secret, so that a
 * newer grant re-delivering the secret never makes a used step good again. Write methods run in
 * the caller's transaction, beside the sign-in's other effects.
 */
export class OfflineTotp {
  constructor(
    private readonly store: AgentStore,
    private readonly dataKey: DataKey,
  ) {}

  /** Keeps (or replaces) the user's secret; steps the CA has used are never accepted here. */
  save(userId: string, delivered: OfflineTotpSecret, nowMs: number): void {
    const secret = base32Decode(delivered.secret);
    const params: TotpParams = {
      algorithm: delivered.algorithm,
      digits: delivered.digits,
      period: delivered.period,
    };
    try {
      this.store.db
        .prepare<[string, Buffer, string, number, number]>(
          `INSERT INTO verifiers (user_id, kind, credential_id, sealed, params_json, created_at,
             updated_at)
           VALUES (?, 'totp', '', ?, ?, ?, ?)
           ON CONFLICT (user_id, kind, credential_id) DO UPDATE SET sealed = excluded.sealed,
             params_json = excluded.params_json, updated_at = excluded.updated_at`,
        )
        .run(
          userId,
          this.dataKey.seal(secret, sealedColumn.totpSecret(userId)),
          JSON.stringify(params),
          nowMs,
          nowMs,
        );
    } finally {
      secret.fill(0);
    }
    if (delivered.notBeforeStep > 0) this.recordStep(userId, delivered.notBeforeStep - 1, nowMs);
  }

  /** The grant that brought the secret is gone, or no longer carries one. */
  drop(userId: string): void {
    this.store.db
      .prepare<[string]>("DELETE FROM verifiers WHERE user_id = ? AND kind = 'totp'")
      .run(userId);
  }

  has(userId: string): boolean {
    return this.row(userId) !== undefined;
  }

  /**
   * Checks a code at trusted time `nowMs`, within ±`TOTP_WINDOW_STEPS`, never at or below the
   * last accepted step; an accepted step is recorded at once. Null when this device holds no
   * usable secret for the user (none delivered, or a row that does not open).
   */
  check(userId: string, code: string, nowMs: number): TotpVerdict | null {
    const row = this.row(userId);
    if (row === undefined) return null;
    const params = parseParams(row.paramsJson);
    if (params === null) return null;
    let secret: Buffer;
    try {
      secret = this.dataKey.open(row.sealed, sealedColumn.totpSecret(userId));
    } catch (error) {
      if (error instanceof SealedDataInvalidError) return null;
      throw error;
    }
    let verdict: TotpVerdict;
    try {
      verdict = verifyTotp({ ...params, secret }, code, Math.floor(nowMs / 1000), {
        window: TOTP_WINDOW_STEPS,
        lastUsedStep: this.lastStep(userId),
      });
    } finally {
      secret.fill(0);
    }
    if (verdict.ok) this.recordStep(userId, verdict.step, nowMs);
    return verdict;
  }

  private recordStep(userId: string, step: number, nowMs: number): void {
    this.store.db
      .prepare<[string, number, number]>(
        `INSERT INTO totp_steps (user_id, last_step, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (user_id) DO UPDATE SET last_step = max(last_step, excluded.last_step),
           updated_at = excluded.updated_at`,
      )
      .run(userId, step, nowMs);
  }

  private lastStep(userId: string): number | null {
    return (
      this.store.db
        .prepare<[string], { step: number }>(
          'SELECT last_step AS step FROM totp_steps WHERE user_id = ?',
        )
        .get(userId)?.step ?? null
    );
  }

  private row(userId: string): { sealed: Buffer; paramsJson: string } | undefined {
    return this.store.db
      .prepare<[string], { sealed: Buffer; paramsJson: string }>(
        `SELECT sealed, params_json AS paramsJson FROM verifiers
         WHERE user_id = ? AND kind = 'totp' AND credential_id = ''`,
      )
      .get(userId);
  }
}

/** An edited row is as good as none: it never checks a code. */
function parseParams(json: string): TotpParams | null {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  const { algorithm, digits, period } = (value ?? {}) as Partial<Record<keyof TotpParams, unknown>>;
  if (algorithm !== 'SHA1' && algorithm !== 'SHA256' && algorithm !== 'SHA512') return null;
  if (typeof digits !== 'number' || !Number.isInteger(digits) || digits < 6 || digits > 10) {
    return null;
  }
  if (typeof period !== 'number' || !Number.isInteger(period) || period < 1 || period > 300) {
    return null;
  }
  return { algorithm, digits, period };
}
