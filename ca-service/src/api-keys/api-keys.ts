import { ForbiddenError, UnauthorizedError } from '@lantern/shared';
import type { Actor } from '@lantern/shared';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ApiKeyNotFoundError } from '../errors.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { SYSTEM_TENANT_ID, isoNow } from '../context/ca-context.js';
import type { ApiKeyRefusal } from '../observability/metrics.js';

export const API_SCOPES = [
  'admin',
  'tenants:write',
  'devices:read',
  'devices:write',
  'enrollment:write',
  'users:read',
  'users:write',
  'events:read',
  'members:read',
  'members:write',
] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export interface ApiKeyPrincipal {
  keyId: string;
  /** null for an installation-wide key (system tenant): it may act on every tenant. */
  tenantId: string | null;
  scopes: readonly string[];
  /** Who the events name when not the key itself: a tenant admin signed in to the console. */
  actor?: Actor;
  /** Counted as a use of the key under `scope` (identity_api_key_uses_total). */
  used?: (scope: ApiScope) => void;
  refused?: (reason: 'forbidden_scope' | 'other_tenant') => void;
}

const KEY_FORMAT = /^lk_([A-Za-z0-9]{8})\.([A-Za-z0-9_-]{43})$/;
const PREFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/**
 * The secret is 256 random bits, so a plain SHA-256 is enough to store it (no KDF needed);
 * the 8-character prefix identifies the key in lists and logs without revealing it.
 */
export async function issueApiKey(
  ctx: Pick<CaContext, 'clock' | 'ids' | 'logger' | 'store'>,
  input: { tenantId: string | null; scopes: ApiScope[]; name?: string; ttlSeconds?: number },
  meta: CommandMeta,
): Promise<{ keyId: string; apiKey: string; prefix: string }> {
  const keyId = ctx.ids.next('key');
  const prefixBytes = randomBytes(8);
  const prefix = `lk_${[...prefixBytes].map((byte) => PREFIX_ALPHABET[byte % PREFIX_ALPHABET.length]).join('')}`;
  const secret = randomBytes(32).toString('base64url');
  const payload: Record<string, unknown> = {
    keyId,
    prefix,
    scopes: input.scopes,
    secretHash: hashSecret(secret),
  };
  if (input.name !== undefined) payload['name'] = input.name;
  if (input.ttlSeconds !== undefined) {
    payload['expiresAt'] = new Date(ctx.clock.now() + input.ttlSeconds * 1000).toISOString();
  }
  await ctx.store.append([
    {
      eventType: 'identity.api_key.issued',
      aggregateId: keyId,
      expectedVersion: 0,
      tenantId: input.tenantId ?? SYSTEM_TENANT_ID,
      ...meta,
      payload,
    },
  ]);
  ctx.logger.info(
    { event: 'api_key.issued', keyId, prefix, tenantId: input.tenantId, scopes: input.scopes },
    'API key issued',
  );
  return { keyId, apiKey: `${prefix}.${secret}`, prefix };
}

interface ApiKeyRow {
  key_id: string;
  tenant_id: string;
  secret_hash: string;
  scopes: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export async function authenticateApiKey(
  ctx: Pick<CaContext, 'clock' | 'logger' | 'metrics' | 'store'>,
  presented: string | undefined,
): Promise<ApiKeyPrincipal> {
  const { metrics } = ctx;
  const end = metrics.apiKeyValidation.startTimer();
  const refuse = (reason: ApiKeyRefusal, message: string): never => {
    end();
    metrics.apiKeyUnauthorized.inc({ reason });
    if (reason !== 'missing') {
      ctx.logger.error(
        { event: 'api_key.unauthorized_use', reason, prefix: presented?.slice(0, 11) },
        'API key refused',
      );
    }
    throw new UnauthorizedError(message);
  };
  const match = presented === undefined ? null : KEY_FORMAT.exec(presented);
  if (!match) return refuse('missing', 'send `Authorization: Bearer lk_…` with an admin API key');
  const row = (await ctx.store.db
    .prepare('SELECT * FROM api_keys WHERE prefix = ?')
    .get(`lk_${match[1]}`)) as ApiKeyRow | undefined;
  const expected = Buffer.from(row?.secret_hash ?? '0'.repeat(64), 'hex');
  const actual = Buffer.from(hashSecret(match[2] ?? ''), 'hex');
  if (!row || !timingSafeEqual(expected, actual)) return refuse('unknown', 'unknown API key');
  if (row.revoked_at !== null) return refuse('revoked', 'this API key was revoked');
  if (row.expires_at !== null && row.expires_at <= isoNow(ctx.clock)) {
    return refuse('expired', 'this API key has expired');
  }
  end();
  const keyTenant = row.tenant_id;
  return {
    keyId: row.key_id,
    tenantId: keyTenant === SYSTEM_TENANT_ID ? null : keyTenant,
    scopes: JSON.parse(row.scopes) as string[],
    used: (scope) => metrics.apiKeyUsed(keyTenant, row.key_id, scope),
    refused: (reason) => metrics.apiKeyUnauthorized.inc({ reason }),
  };
}

/** Scope check plus tenant isolation: a tenant key acts only on its own tenant. */
export function authorize(principal: ApiKeyPrincipal, scope: ApiScope, tenantId?: string): void {
  if (!principal.scopes.includes('admin') && !principal.scopes.includes(scope)) {
    principal.refused?.('forbidden_scope');
    throw new ForbiddenError(`this API key lacks the "${scope}" scope`);
  }
  if (tenantId !== undefined && principal.tenantId !== null && principal.tenantId !== tenantId) {
    principal.refused?.('other_tenant');
    throw new ForbiddenError('this API key belongs to another tenant');
  }
  principal.used?.(scope);
}

export function revokeApiKey(
  ctx: Pick<CaContext, 'logger' | 'store'>,
  keyId: string,
  tenantId: string | null,
  meta: CommandMeta,
): Promise<{ keyId: string; revoked: true }> {
  return ctx.store.transaction(async () => {
    const row = (await ctx.store.db
      .prepare('SELECT tenant_id, revoked_at FROM api_keys WHERE key_id = ?')
      .get(keyId)) as { tenant_id: string; revoked_at: string | null } | undefined;
    if (!row || (tenantId !== null && row.tenant_id !== tenantId)) throw new ApiKeyNotFoundError();
    if (row.revoked_at === null) {
      await ctx.store.append([
        {
          eventType: 'identity.api_key.revoked',
          aggregateId: keyId,
          tenantId: row.tenant_id,
          ...meta,
          payload: { keyId },
        },
      ]);
      ctx.logger.info(
        { event: 'api_key.revoked', keyId, tenantId: row.tenant_id },
        'API key revoked',
      );
    }
    return { keyId, revoked: true as const };
  });
}
