import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import { CredentialRejectedError } from '../errors.js';
import { sealPersonalData } from './personal-data.js';
import type { Role, UserRow, UserView } from './users.js';
import { endUserSessions, getUser, toUserView } from './users.js';

export interface UserChanges {
  role?: Role;
  email?: string;
  displayName?: string;
}

/** The kind of the user's current secret, from the last `password_set` of their stream. */
async function currentCredentialKind(
  ctx: Pick<CaContext, 'store'>,
  userId: string,
): Promise<string | null> {
  const last = await ctx.store.lastInStream('user', userId, ['identity.user.password_set']);
  return last === undefined ? null : ((last.payload as { kind?: string }).kind ?? null);
}

/**
 * An admin changes a user's role, email or display name (`identity.user.updated`). The email
 * and name are sealed under the user's own key like at registration. A role change ends the
 * user's sessions and offline grants: tokens and grants carry the role they were issued for,
 * and a demotion must not outlive them. A learner signing in with a PIN is not promoted until
 * an admin has set a password (`user reset-password`), because other roles need one.
 */
export function updateUser(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  input: { userId: string; tenantId: string | null; changes: UserChanges },
  meta: CommandMeta,
): Promise<UserView> {
  return ctx.store.transaction(async () => {
    const user = await getUser(ctx, input.userId, input.tenantId);
    const { role, email, displayName } = input.changes;
    const roleChanges = role !== undefined && role !== user.role;
    if (
      roleChanges &&
      role !== 'learner' &&
      (await currentCredentialKind(ctx, user.user_id)) === 'pin'
    ) {
      throw new CredentialRejectedError(
        `a ${role} needs a password, and this learner has a PIN: set a password first (lantern-ca user reset-password)`,
      );
    }
    const now = isoNow(ctx.clock);
    const nextEmail = email ?? user.email;
    const nextName = displayName ?? user.display_name;
    const personal =
      email === undefined && displayName === undefined
        ? undefined
        : await sealPersonalData(
            ctx.store.db,
            user.user_id,
            {
              username: user.username,
              ...(nextEmail === null ? {} : { email: nextEmail }),
              ...(nextName === null ? {} : { displayName: nextName }),
            },
            now,
          );
    await ctx.store.append([
      {
        eventType: 'identity.user.updated',
        eventVersion: 2,
        aggregateId: user.user_id,
        tenantId: user.tenant_id,
        ...meta,
        payload: {
          userId: user.user_id,
          ...(roleChanges ? { role } : {}),
          ...(personal === undefined ? {} : { personalData: personal }),
        },
      },
    ]);
    if (roleChanges) await endUserSessions(ctx, user.user_id, user.tenant_id, 'user_revoked', meta);
    return toUserView(
      (await ctx.store.db
        .prepare('SELECT * FROM users WHERE user_id = ?')
        .get(user.user_id)) as UserRow,
    );
  });
}
