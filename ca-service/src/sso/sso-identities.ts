import type { SqlDatabase } from '../store/sql-database.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { SsoNotConfiguredError } from '../errors.js';
import type { UserRow } from '../users/users.js';
import { findUserById, getUser, unerasedUsersWithEmail } from '../users/users.js';
import type { SsoProviderView } from './sso-providers.js';
import { findSsoProvider } from './sso-providers.js';

export interface SsoIdentityView {
  userId: string;
  provider: string;
  issuer: string;
  subject: string;
  linkedBy: 'admin' | 'verified_email';
}

/** The user an external identity signs in as, in this tenant only (the key has the tenant). */
export async function linkedUser(
  db: SqlDatabase,
  tenantId: string,
  issuer: string,
  subject: string,
): Promise<UserRow | undefined> {
  const link = (await db
    .prepare(
      'SELECT user_id FROM sso_identities WHERE tenant_id = ? AND issuer = ? AND subject = ?',
    )
    .get(tenantId, issuer, subject)) as { user_id: string } | undefined;
  return link && findUserById(db, link.user_id);
}

/**
 * The verified-domain rule: the provider says the email is verified, its domain is one the
 * tenant lists, and exactly one live user of the tenant has that email (two would make the
 * link a guess). An email alone never links anywhere else.
 */
export async function userByVerifiedEmail(
  db: SqlDatabase,
  provider: SsoProviderView,
  email: string | undefined,
  emailVerified: boolean,
): Promise<UserRow | undefined> {
  if (email === undefined || !emailVerified) return undefined;
  const at = email.lastIndexOf('@');
  const domain = email.slice(at + 1).toLowerCase();
  if (at < 1 || !provider.verifiedDomains.includes(domain)) return undefined;
  const rows = await unerasedUsersWithEmail(db, provider.tenantId, email);
  return rows.length === 1 ? rows[0] : undefined;
}

/** Appends `identity.user.identity_linked` (AuthenticationIdentityLinked); the caller's transaction. */
export async function recordIdentityLink(
  ctx: Pick<CaContext, 'store'>,
  user: UserRow,
  provider: SsoProviderView,
  subject: string,
  linkedBy: SsoIdentityView['linkedBy'],
  meta: CommandMeta,
): Promise<SsoIdentityView> {
  await ctx.store.append([
    {
      eventType: 'identity.user.identity_linked',
      aggregateId: user.user_id,
      tenantId: user.tenant_id,
      ...meta,
      payload: {
        userId: user.user_id,
        provider: provider.provider,
        issuer: provider.issuer,
        subject,
        linkedBy,
      },
    },
  ]);
  return {
    userId: user.user_id,
    provider: provider.provider,
    issuer: provider.issuer,
    subject,
    linkedBy,
  };
}

/**
 * An admin links a user to the subject its account has at the tenant's provider (Google's `sub`,
 * Entra's `oid`-based `sub`): the pre-link of docs/sso.md, the only way in for a tenant that
 * lists no verified domains. Re-linking a subject moves it to this user.
 */
export function linkIdentityByAdmin(
  ctx: Pick<CaContext, 'store'>,
  userId: string,
  tenantId: string | null,
  subject: string,
  meta: CommandMeta,
): Promise<SsoIdentityView> {
  return ctx.store.transaction(async () => {
    const user = await getUser(ctx, userId, tenantId);
    const provider = await findSsoProvider(ctx.store.db, user.tenant_id);
    if (!provider) throw new SsoNotConfiguredError();
    return recordIdentityLink(ctx, user, provider, subject, 'admin', meta);
  });
}
