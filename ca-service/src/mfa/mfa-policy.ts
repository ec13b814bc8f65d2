import type { SqlDatabase } from '../store/sql-database.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import type { Projection } from '../store/event-store.js';
import { getTenant } from '../tenants/tenant-commands.js';
import type { Role } from '../users/users.js';
import { ROLES } from '../users/users.js';

/**
 * MFA policy, per tenant and role (docs/architecture.md §4: the CA applies it online, the agent offline).
 *
 * - `required`: second factors of which one every online sign-in needs **once the user has
 *   enrolled it**; `[]` makes them optional (checked when sent, never demanded). A user who has
 *   not enrolled signs in with the password alone: enrolment is a separate, admin-driven step.
 *   `webauthn` counts as enrolled with a passkey of the CA's web origin (mfa/webauthn-*.ts).
 * - `offline`: the methods an offline grant may carry. `totp` lands in a grant only when the
 *   user has TOTP (and then its secret comes sealed to the device key); `webauthn` whenever
 *   allowed (the passkey lives on the device); without `password` the role gets no offline
 *   grant at all, i.e. no offline sign-in.
 * - `stepUp`: sensitive actions by users of this role need an access token whose `amr` holds
 *   `otp` (signed in with a code, not just a password). Managing one's own TOTP once it is
 *   active always needs `otp`, whatever this says: a stolen password session must not be able
 *   to replace or remove the second factor. A passkey sign-in with two factors carries `mfa`,
 *   which step-up.ts accepts as well.
 *
 * When `required` holds `totp`, the user has TOTP and `offline` allows it, the grant also says
 * `mfa: ['totp']`: the agent must then ask for a code offline as well, so going offline is no
 * way around the second factor. Dropping `totp` from `offline` for such a role is exactly that
 * downgrade, and an admin's explicit choice.
 */
export const SECOND_FACTORS = ['totp', 'webauthn'] as const;
export type SecondFactor = (typeof SECOND_FACTORS)[number];
export const OFFLINE_METHODS = ['password', 'totp', 'webauthn'] as const;
export type OfflineMethod = (typeof OFFLINE_METHODS)[number];

/**
 * Passkeys for a role. `login`: `passwordless` lets a passkey sign in alone; `second_factor`
 * needs the password with it. `userVerification`: `required` refuses an assertion without the
 * UV flag (PIN or biometric on the authenticator); `preferred` takes one with presence only, and
 * such a sign-in is then no step-up (no `mfa` in `amr`).
 */
export interface WebAuthnRolePolicy {
  login: 'passwordless' | 'second_factor';
  userVerification: 'required' | 'preferred';
}

export interface RoleMfaPolicy {
  required: SecondFactor[];
  offline: OfflineMethod[];
  /**
   * `hardware`: offline grants only for devices whose keys are in a TPM (claimed or attested
   * tier); software-tier devices then sign this role in online only. Absent: `software` (any).
   */
  offlineAssurance?: 'software' | 'hardware';
  stepUp: boolean;
  webauthn: WebAuthnRolePolicy;
}

export type TenantMfaPolicy = Record<Role, RoleMfaPolicy>;

const DEFAULT_WEBAUTHN: WebAuthnRolePolicy = {
  login: 'passwordless',
  userVerification: 'required',
};

/**
 * A policy stored before passkeys existed keeps its own `offline` list (an admin's explicit
 * choice is never widened); it only gains the default `webauthn` settings when read.
 */
export const DEFAULT_MFA_POLICY: TenantMfaPolicy = {
  admin: {
    required: ['totp', 'webauthn'],
    offline: ['password', 'totp', 'webauthn'],
    stepUp: true,
    webauthn: DEFAULT_WEBAUTHN,
  },
  teacher: {
    required: ['totp', 'webauthn'],
    offline: ['password', 'totp', 'webauthn'],
    stepUp: false,
    webauthn: DEFAULT_WEBAUTHN,
  },
  learner: {
    required: [],
    offline: ['password', 'totp', 'webauthn'],
    stepUp: false,
    webauthn: DEFAULT_WEBAUTHN,
  },
};

export const roleMfaPolicySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['required', 'offline'],
  properties: {
    required: {
      type: 'array',
      uniqueItems: true,
      maxItems: SECOND_FACTORS.length,
      items: { type: 'string', enum: [...SECOND_FACTORS] },
    },
    offline: {
      type: 'array',
      uniqueItems: true,
      maxItems: OFFLINE_METHODS.length,
      items: { type: 'string', enum: [...OFFLINE_METHODS] },
    },
    stepUp: { type: 'boolean' },
    offlineAssurance: { type: 'string', enum: ['software', 'hardware'] },
    webauthn: {
      type: 'object',
      additionalProperties: false,
      properties: {
        login: { type: 'string', enum: ['passwordless', 'second_factor'] },
        userVerification: { type: 'string', enum: ['required', 'preferred'] },
      },
    },
  },
} as const;

/** Body of `PUT /v1/admin/tenants/:id/mfa-policy`; a role left out gets its default. */
export const mfaPolicyBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['roles'],
  properties: {
    roles: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: Object.fromEntries(ROLES.map((role) => [role, roleMfaPolicySchema])),
    },
  },
} as const;

interface PolicyRow {
  policy: string;
  updated_at: string;
}

export interface MfaPolicyView {
  tenantId: string;
  roles: TenantMfaPolicy;
  /** null while the tenant runs on the defaults. */
  updatedAt: string | null;
}

export async function mfaPolicyOf(db: SqlDatabase, tenantId: string): Promise<MfaPolicyView> {
  const row = (await db
    .prepare('SELECT policy, updated_at FROM tenant_mfa_policies WHERE tenant_id = ?')
    .get(tenantId)) as PolicyRow | undefined;
  if (!row) return { tenantId, roles: DEFAULT_MFA_POLICY, updatedAt: null };
  const stored = JSON.parse(row.policy) as Partial<Record<Role, Partial<RoleMfaPolicy>>>;
  const roles = Object.fromEntries(
    ROLES.map((role) => {
      const fallback = DEFAULT_MFA_POLICY[role];
      const own = stored[role];
      return [
        role,
        own === undefined
          ? fallback
          : { ...fallback, ...own, webauthn: { ...fallback.webauthn, ...own.webauthn } },
      ];
    }),
  ) as TenantMfaPolicy;
  return { tenantId, roles, updatedAt: row.updated_at };
}

export async function roleMfaPolicy(
  db: SqlDatabase,
  tenantId: string,
  role: Role,
): Promise<RoleMfaPolicy> {
  return (await mfaPolicyOf(db, tenantId)).roles[role];
}

export function setMfaPolicy(
  ctx: Pick<CaContext, 'store'>,
  tenant: string,
  roles: Partial<
    Record<
      Role,
      {
        required: SecondFactor[];
        offline: OfflineMethod[];
        stepUp?: boolean;
        offlineAssurance?: 'software' | 'hardware';
        webauthn?: Partial<WebAuthnRolePolicy>;
      }
    >
  >,
  meta: CommandMeta,
): Promise<MfaPolicyView> {
  return ctx.store.transaction(async () => {
    const { tenantId } = await getTenant(ctx.store.db, tenant);
    const current = (await mfaPolicyOf(ctx.store.db, tenantId)).roles;
    const next = Object.fromEntries(
      ROLES.map((role) => {
        const given = roles[role];
        const policy: RoleMfaPolicy =
          given === undefined
            ? current[role]
            : {
                required: [...given.required],
                offline: [...given.offline],
                stepUp: given.stepUp ?? DEFAULT_MFA_POLICY[role].stepUp,
                ...(given.offlineAssurance === undefined
                  ? {}
                  : { offlineAssurance: given.offlineAssurance }),
                webauthn: { ...DEFAULT_MFA_POLICY[role].webauthn, ...given.webauthn },
              };
        return [role, policy];
      }),
    ) as TenantMfaPolicy;
    await ctx.store.append([
      {
        eventType: 'identity.tenant.mfa_policy_set',
        aggregateId: tenantId,
        tenantId,
        ...meta,
        payload: { tenantId, roles: next },
      },
    ]);
    return mfaPolicyOf(ctx.store.db, tenantId);
  });
}

/**
 * The policy table, and one side effect on the TOTP secrets: erasing a user deletes them in the
 * erasure's own transaction, whichever path erased (admin action, GDPR request). The secrets
 * table is not a projection (a rebuild does not empty it); replaying an erasure is a no-op.
 */
export const mfaProjection: Projection = {
  name: 'mfa',
  tables: ['tenant_mfa_policies'],
  apply(db, event) {
    switch (event.eventType) {
      case 'identity.tenant.mfa_policy_set':
        db.prepare(
          `INSERT INTO tenant_mfa_policies (tenant_id, policy, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`,
        ).run(event.payload.tenantId, JSON.stringify(event.payload.roles), event.occurredAt);
        break;
      case 'identity.user.erased':
        db.prepare('DELETE FROM totp_credentials WHERE user_id = ?').run(event.payload.userId);
        break;
    }
  },
};
