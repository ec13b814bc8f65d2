import { totpGrantsOnDevice } from '../auth/grant-queries.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { TotpNotEnrolledError } from '../errors.js';
import type { UserRow } from '../users/users.js';
import { getUser } from '../users/users.js';
import { deleteTotp, hasActiveTotp, totpRow } from './totp-credentials.js';

export async function removeTotp(
  ctx: Pick<CaContext, 'store'>,
  user: UserRow,
  reason: 'user' | 'admin_reset' | 'device_revoked',
  meta: CommandMeta,
): Promise<{ userId: string; kind: 'totp'; removed: true }> {
  if (!(await hasActiveTotp(ctx.store.db, user.user_id))) throw new TotpNotEnrolledError();
  await deleteTotp(ctx, user.user_id);
  await ctx.store.append([
    {
      eventType: 'identity.user.mfa_removed',
      aggregateId: user.user_id,
      tenantId: user.tenant_id,
      ...meta,
      payload: { userId: user.user_id, kind: 'totp', reason },
    },
  ]);
  return { userId: user.user_id, kind: 'totp', removed: true };
}

/**
 * Issue 15: an offline grant carries the user's TOTP secret sealed to the device key, so whoever
 * holds a revoked device may hold a working second factor for the CA. A per-device secret would
 * not match the user's authenticator app, so the factor itself is retired instead: every user
 * whose current secret (confirmed before a grant with `totp` was issued on this device) went to
 * the device loses it, in the revocation's transaction, and enrols a new one. Call inside it.
 */
export async function retireTotpSealedOnDevice(
  ctx: Pick<CaContext, 'store'>,
  deviceId: string,
  meta: CommandMeta,
): Promise<string[]> {
  const users = new Set<string>();
  for (const grant of await totpGrantsOnDevice(ctx.store.db, deviceId)) {
    const confirmedAt = (await totpRow(ctx.store.db, grant.user_id, 'active'))?.confirmed_at;
    if (confirmedAt != null && confirmedAt <= grant.issued_at) users.add(grant.user_id);
  }
  for (const userId of users) {
    await removeTotp(ctx, await getUser(ctx, userId, null), 'device_revoked', meta);
  }
  return [...users];
}
