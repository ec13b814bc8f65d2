import type { SqlDatabase } from '../store/sql-database.js';
import type { SSO_PROVIDERS } from '@lantern/shared';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { SsoNotConfiguredError } from '../errors.js';
import type { Projection } from '../store/event-store.js';
import { getTenant } from '../tenants/tenant-commands.js';

export type SsoProviderLabel = (typeof SSO_PROVIDERS)[number];

/** A tenant's OpenID Connect provider as the admin API shows it: never its client secret. */
export interface SsoProviderView {
  tenantId: string;
  provider: SsoProviderLabel;
  issuer: string;
  clientId: string;
  /**
   * Linking rule (docs/sso.md): an (issuer, subject) signs in as the user it is linked to. An
   * unlinked one is linked only when an admin named its subject, or when its email is verified
   * by the provider, its domain is listed here and exactly one user of the tenant has it.
   * Empty: admin links only.
   */
  verifiedDomains: string[];
  updatedAt: string;
}

export interface SsoProviderInput {
  provider: SsoProviderLabel;
  issuer: string;
  clientId: string;
  clientSecret: string;
  verifiedDomains?: string[];
}

export const ssoProviderBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['provider', 'issuer', 'clientId', 'clientSecret'],
  properties: {
    provider: { type: 'string', enum: ['google', 'microsoft', 'oidc'] },
    issuer: { type: 'string', minLength: 8, maxLength: 500, pattern: '^https?://' },
    clientId: { type: 'string', minLength: 1, maxLength: 255 },
    clientSecret: { type: 'string', minLength: 1, maxLength: 1024 },
    verifiedDomains: {
      type: 'array',
      uniqueItems: true,
      maxItems: 20,
      items: {
        type: 'string',
        minLength: 1,
        maxLength: 253,
        pattern: '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$',
      },
    },
  },
} as const;

interface ProviderRow {
  tenant_id: string;
  provider: SsoProviderLabel;
  issuer: string;
  client_id: string;
  verified_domains: string;
  updated_at: string;
}

const secretAad = (tenantId: string) => `sso-client-secret:${tenantId}`;

export async function findSsoProvider(
  db: SqlDatabase,
  tenantId: string,
): Promise<SsoProviderView | undefined> {
  const row = (await db
    .prepare('SELECT * FROM tenant_sso_providers WHERE tenant_id = ?')
    .get(tenantId)) as ProviderRow | undefined;
  return (
    row && {
      tenantId: row.tenant_id,
      provider: row.provider,
      issuer: row.issuer,
      clientId: row.client_id,
      verifiedDomains: JSON.parse(row.verified_domains) as string[],
      updatedAt: row.updated_at,
    }
  );
}

export async function ssoProviderOf(db: SqlDatabase, tenant: string): Promise<SsoProviderView> {
  const provider = await findSsoProvider(db, (await getTenant(db, tenant)).tenantId);
  if (!provider) throw new SsoNotConfiguredError();
  return provider;
}

/** The client secret, opened from the secret box only for the token request that needs it. */
export async function ssoClientSecret(
  ctx: Pick<CaContext, 'secretBox' | 'store'>,
  tenantId: string,
) {
  const row = (await ctx.store.db
    .prepare('SELECT sealed FROM sso_client_secrets WHERE tenant_id = ?')
    .get(tenantId)) as { sealed: string } | undefined;
  if (!row) throw new SsoNotConfiguredError();
  return ctx.secretBox.open(row.sealed, secretAad(tenantId)).toString('utf8');
}

/**
 * Sets (or replaces) the tenant's provider. The event carries everything but the client secret,
 * which is sealed with the CA's secret box into its own row in the same transaction: a replay
 * rebuilds the configuration, and the secret never reaches the event stream or NATS.
 */
export function setSsoProvider(
  ctx: Pick<CaContext, 'secretBox' | 'store'>,
  tenant: string,
  input: SsoProviderInput,
  meta: CommandMeta,
): Promise<SsoProviderView> {
  return ctx.store.transaction(async () => {
    const { tenantId } = await getTenant(ctx.store.db, tenant);
    await ctx.store.append([
      {
        eventType: 'identity.tenant.sso_provider_set',
        aggregateId: tenantId,
        tenantId,
        ...meta,
        payload: {
          tenantId,
          provider: input.provider,
          issuer: input.issuer,
          clientId: input.clientId,
          verifiedDomains: [...(input.verifiedDomains ?? [])],
        },
      },
    ]);
    await ctx.store.db
      .prepare(
        `INSERT INTO sso_client_secrets (tenant_id, sealed) VALUES (?, ?)
         ON CONFLICT (tenant_id) DO UPDATE SET sealed = excluded.sealed`,
      )
      .run(tenantId, ctx.secretBox.seal(Buffer.from(input.clientSecret), secretAad(tenantId)));
    return (await findSsoProvider(ctx.store.db, tenantId)) as SsoProviderView;
  });
}

/** The providers and the identity links, rebuilt from their events. */
export const ssoProjection: Projection = {
  name: 'sso',
  tables: ['tenant_sso_providers', 'sso_identities'],
  apply(db, event) {
    switch (event.eventType) {
      case 'identity.tenant.sso_provider_set': {
        const { tenantId, provider, issuer, clientId, verifiedDomains } = event.payload;
        db.prepare(
          `INSERT INTO tenant_sso_providers
             (tenant_id, provider, issuer, client_id, verified_domains, updated_at)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (tenant_id) DO UPDATE SET provider = excluded.provider,
             issuer = excluded.issuer, client_id = excluded.client_id,
             verified_domains = excluded.verified_domains, updated_at = excluded.updated_at`,
        ).run(
          tenantId,
          provider,
          issuer,
          clientId,
          JSON.stringify(verifiedDomains),
          event.occurredAt,
        );
        break;
      }
      case 'identity.user.identity_linked':
        db.prepare(
          `INSERT INTO sso_identities (tenant_id, issuer, subject, user_id, linked_at)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (tenant_id, issuer, subject) DO UPDATE SET user_id = excluded.user_id,
             linked_at = excluded.linked_at`,
        ).run(
          event.tenantId,
          event.payload.issuer,
          event.payload.subject,
          event.payload.userId,
          event.occurredAt,
        );
        break;
      case 'identity.user.erased':
        db.prepare('DELETE FROM sso_identities WHERE user_id = ?').run(event.payload.userId);
        break;
    }
  },
};
