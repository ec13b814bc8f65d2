import type { CaContext, CommandMeta } from '../context/ca-context.js';
import type { EventStore } from '../store/event-store.js';
import { getTenant } from './tenant-commands.js';
import type { CredentialPolicy } from '../passwords/credential-policy.js';
import { COMMON_PASSWORDS, passwordPolicy } from '../passwords/credential-policy.js';

/**
 * Per-tenant password strength (issue 15): the minimum length and whether the built-in list of
 * common passwords is refused. It applies where a password is set (user create, reset) and to
 * what may become an offline credential: a password below it gets no offline grant on a
 * software-tier device, so the agent keeps no verifier for it (mfa/login-mfa.ts).
 */
export interface TenantPasswordPolicy {
  minLength: number;
  refuseCommon: boolean;
}

/** What a tenant runs on until an admin sets its own: the CA's global rule before issue 15. */
export const DEFAULT_TENANT_PASSWORD_POLICY: TenantPasswordPolicy = {
  minLength: 8,
  refuseCommon: false,
};

export const tenantPasswordPolicyBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['minLength', 'refuseCommon'],
  properties: {
    minLength: { type: 'integer', minimum: 8, maximum: 128 },
    refuseCommon: { type: 'boolean' },
  },
} as const;

export interface TenantPasswordPolicyView extends TenantPasswordPolicy {
  tenantId: string;
  /** null while the tenant runs on the defaults. */
  updatedAt: string | null;
}

/** The tenant's last `identity.tenant.password_policy_set` (few events: read from the log). */
export async function tenantPasswordPolicyOf(
  store: EventStore,
  tenantId: string,
): Promise<TenantPasswordPolicyView> {
  const last = await store.lastOfTenant(tenantId, 'identity.tenant.password_policy_set');
  if (!last) return { tenantId, ...DEFAULT_TENANT_PASSWORD_POLICY, updatedAt: null };
  const { minLength, refuseCommon } = last.payload as unknown as TenantPasswordPolicy;
  return { tenantId, minLength, refuseCommon, updatedAt: last.occurredAt };
}

export async function tenantPasswordCheck(
  store: EventStore,
  tenantId: string,
): Promise<CredentialPolicy> {
  const { minLength, refuseCommon } = await tenantPasswordPolicyOf(store, tenantId);
  return passwordPolicy({ minLength, ...(refuseCommon ? { refuse: COMMON_PASSWORDS } : {}) });
}

export function setTenantPasswordPolicy(
  ctx: Pick<CaContext, 'store'>,
  tenant: string,
  policy: TenantPasswordPolicy,
  meta: CommandMeta,
): Promise<TenantPasswordPolicyView> {
  return ctx.store.transaction(async () => {
    const { tenantId } = await getTenant(ctx.store.db, tenant);
    await ctx.store.append([
      {
        eventType: 'identity.tenant.password_policy_set',
        aggregateId: tenantId,
        tenantId,
        ...meta,
        payload: { tenantId, minLength: policy.minLength, refuseCommon: policy.refuseCommon },
      },
    ]);
    return tenantPasswordPolicyOf(ctx.store, tenantId);
  });
}
