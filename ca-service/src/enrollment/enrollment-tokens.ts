import { createHash, randomBytes } from 'node:crypto';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import {
  EnrollmentTokenExpiredError,
  EnrollmentTokenInvalidError,
  EnrollmentTokenNotFoundError,
  EnrollmentTokenRevokedError,
  EnrollmentTokenUsedError,
} from '../errors.js';
import { statement } from '../store/statements.js';
import { getTenant } from '../tenants/tenant-commands.js';

export const MAX_TOKEN_TTL_SECONDS = 7 * 86_400;
const TOKEN_FORMAT = /^let_([0-9A-HJKMNP-TV-Z]{26})\.([A-Za-z0-9_-]{43})$/;

export interface EnrollmentTokenView {
  tokenId: string;
  tenantId: string;
  deviceName: string | null;
  expiresAt: string;
  status: 'issued' | 'consumed' | 'revoked' | 'expired';
  deviceId: string | null;
  createdAt: string;
}

interface TokenRow {
  token_id: string;
  tenant_id: string;
  token_hash: string;
  device_name: string | null;
  expires_at: string;
  status: 'issued' | 'consumed' | 'revoked';
  device_id: string | null;
  created_at: string;
}

export function hashEnrollmentToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function toView(row: TokenRow, now: string): EnrollmentTokenView {
  return {
    tokenId: row.token_id,
    tenantId: row.tenant_id,
    deviceName: row.device_name,
    expiresAt: row.expires_at,
    status: row.status === 'issued' && row.expires_at <= now ? 'expired' : row.status,
    deviceId: row.device_id,
    createdAt: row.created_at,
  };
}

/** The token is shown once; only its SHA-256 is recorded (it is a 256-bit random secret). */
export async function createEnrollmentToken(
  ctx: Pick<CaContext, 'clock' | 'ids' | 'store'>,
  input: { tenant: string; ttlSeconds: number; deviceName?: string },
  meta: CommandMeta,
): Promise<{ token: string; tokenId: string; tenantId: string; expiresAt: string }> {
  const tenant = await getTenant(ctx.store.db, input.tenant);
  const tokenId = ctx.ids.next('tok');
  const token = `let_${tokenId.slice(4)}.${randomBytes(32).toString('base64url')}`;
  const expiresAt = new Date(ctx.clock.now() + input.ttlSeconds * 1000).toISOString();
  const payload: Record<string, unknown> = {
    tokenId,
    expiresAt,
    tokenHash: hashEnrollmentToken(token),
  };
  if (input.deviceName !== undefined) payload['deviceName'] = input.deviceName;
  await ctx.store.append([
    {
      eventType: 'identity.enrollment_token.issued',
      aggregateId: tokenId,
      expectedVersion: 0,
      tenantId: tenant.tenantId,
      ...meta,
      payload,
    },
  ]);
  return { token, tokenId, tenantId: tenant.tenantId, expiresAt };
}

export interface RedeemableToken {
  tokenId: string;
  tenantId: string;
  deviceName: string | null;
  version: number;
}

/** Checks a presented token without consuming it; consumption is an event in the enroll transaction. */
export async function checkEnrollmentToken(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  token: string,
): Promise<RedeemableToken> {
  if (!TOKEN_FORMAT.test(token)) {
    throw new EnrollmentTokenInvalidError('the enrollment token is not of the form let_….…');
  }
  const row = (await statement(
    ctx.store.db,
    'SELECT * FROM enrollment_tokens WHERE token_hash = ?',
  ).get(hashEnrollmentToken(token))) as TokenRow | undefined;
  if (!row) throw new EnrollmentTokenInvalidError('unknown enrollment token');
  assertRedeemable(ctx, row);
  return {
    tokenId: row.token_id,
    tenantId: row.tenant_id,
    deviceName: row.device_name,
    version: await ctx.store.aggregateVersion('enrollment_token', row.token_id),
  };
}

/**
 * `checkEnrollmentToken` again for a token it passed, in the unit of work that consumes it: the
 * token may have been used, revoked or may have expired since. One primary-key read; the
 * consuming event expects the version the first check saw, so any event on the token in
 * between (each changes its status) also refuses the enrollment.
 */
export async function recheckEnrollmentToken(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  token: RedeemableToken,
): Promise<void> {
  const row = (await statement(
    ctx.store.db,
    'SELECT status, expires_at FROM enrollment_tokens WHERE token_id = ?',
  ).get(token.tokenId)) as Pick<TokenRow, 'status' | 'expires_at'> | undefined;
  if (!row) throw new EnrollmentTokenInvalidError('unknown enrollment token');
  assertRedeemable(ctx, row);
}

function assertRedeemable(
  ctx: Pick<CaContext, 'clock'>,
  row: Pick<TokenRow, 'status' | 'expires_at'>,
): void {
  if (row.status === 'consumed') throw new EnrollmentTokenUsedError();
  if (row.status === 'revoked') throw new EnrollmentTokenRevokedError();
  if (row.expires_at <= isoNow(ctx.clock)) throw new EnrollmentTokenExpiredError();
}

export async function listEnrollmentTokens(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  tenantId: string,
): Promise<EnrollmentTokenView[]> {
  const now = isoNow(ctx.clock);
  return (
    (await ctx.store.db
      .prepare(
        'SELECT * FROM enrollment_tokens WHERE tenant_id = ? ORDER BY created_at DESC LIMIT 1000',
      )
      .all(tenantId)) as TokenRow[]
  ).map((row) => toView(row, now));
}

export function revokeEnrollmentToken(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  input: { tenantId: string | null; tokenId: string },
  meta: CommandMeta,
): Promise<EnrollmentTokenView> {
  return ctx.store.transaction(async () => {
    const row = (await ctx.store.db
      .prepare('SELECT * FROM enrollment_tokens WHERE token_id = ?')
      .get(input.tokenId)) as TokenRow | undefined;
    if (!row || (input.tenantId !== null && row.tenant_id !== input.tenantId)) {
      throw new EnrollmentTokenNotFoundError();
    }
    if (row.status === 'consumed')
      throw new EnrollmentTokenUsedError('the token was already used; revoke the device instead');
    if (row.status === 'issued') {
      await ctx.store.append([
        {
          eventType: 'identity.enrollment_token.revoked',
          aggregateId: row.token_id,
          tenantId: row.tenant_id,
          ...meta,
          payload: { tokenId: row.token_id },
        },
      ]);
    }
    const updated = (await ctx.store.db
      .prepare('SELECT * FROM enrollment_tokens WHERE token_id = ?')
      .get(input.tokenId)) as TokenRow;
    return toView(updated, isoNow(ctx.clock));
  });
}
