import type { SqlDatabase } from '../store/sql-database.js';
import { BlockList, isIP } from 'node:net';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { RiskPolicyInvalidError } from '../errors.js';
import type { Projection } from '../store/event-store.js';
import { getTenant } from '../tenants/tenant-commands.js';

/** The adaptive-MFA rules (signin/sign-in-risk.ts); also the `reason` label of the metric. */
export const RISK_REASONS = [
  'new_device',
  'unusual_hour',
  'recent_failures',
  'ip_failures',
  'impossible_travel',
] as const;
export type RiskReason = (typeof RISK_REASONS)[number];

/** A network the tenant knows the place of (its schools' uplinks): the only location signal. */
export interface KnownLocation {
  cidr: string;
  name: string;
  lat: number;
  lon: number;
}

/**
 * A tenant's adaptive-MFA policy. Each rule that fires adds its weight; a score (capped at 100)
 * reaching `threshold` asks for a second factor the user has, whatever the role's MFA policy
 * says. `noFactor` decides for a user with none: `deny` refuses the sign-in, `allow` lets it
 * through flagged (`risk.unverified` in the answer, `allowed_unverified` in the event).
 */
export interface RiskPolicy {
  /** Off by default: a tenant turns it on once its locations and hours are set. */
  enabled: boolean;
  threshold: number;
  weights: Record<RiskReason, number>;
  noFactor: 'deny' | 'allow';
  /** `recent_failures`: at least this many failed sign-ins in the account's lockout window. */
  recentFailures: number;
  /** `ip_failures`: the client address failed for at least this many accounts … */
  ipFailureAccounts: number;
  /** … within this many seconds. */
  ipFailureWindowSeconds: number;
  /** `impossible_travel`: faster than this between two located sign-ins. */
  maxTravelKmh: number;
  /** `unusual_hour`: the tenant's usual hours [from, to) in its time zone; absent: none. */
  activeHours?: { from: number; to: number; timeZone: string };
  locations: KnownLocation[];
}

export const DEFAULT_RISK_POLICY: RiskPolicy = {
  enabled: false,
  threshold: 50,
  weights: {
    new_device: 20,
    unusual_hour: 15,
    recent_failures: 30,
    ip_failures: 40,
    impossible_travel: 60,
  },
  noFactor: 'allow',
  recentFailures: 3,
  ipFailureAccounts: 5,
  ipFailureWindowSeconds: 900,
  maxTravelKmh: 900,
  locations: [],
};

const weight = { type: 'integer', minimum: 0, maximum: 100 } as const;
const hour = { type: 'integer', minimum: 0, maximum: 23 } as const;

/** Body of `PUT /v1/admin/tenants/:id/risk-policy`; a field left out keeps its current value. */
export const riskPolicyBodySchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    enabled: { type: 'boolean' },
    threshold: { type: 'integer', minimum: 1, maximum: 100 },
    weights: {
      type: 'object',
      additionalProperties: false,
      properties: {
        new_device: weight,
        unusual_hour: weight,
        recent_failures: weight,
        ip_failures: weight,
        impossible_travel: weight,
      },
    },
    noFactor: { type: 'string', enum: ['deny', 'allow'] },
    recentFailures: { type: 'integer', minimum: 1, maximum: 100 },
    ipFailureAccounts: { type: 'integer', minimum: 2, maximum: 10_000 },
    ipFailureWindowSeconds: { type: 'integer', minimum: 60, maximum: 86_400 },
    maxTravelKmh: { type: 'integer', minimum: 1, maximum: 100_000 },
    activeHours: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to', 'timeZone'],
          properties: {
            from: hour,
            to: hour,
            timeZone: { type: 'string', minLength: 1, maxLength: 64 },
          },
        },
      ],
    },
    locations: {
      type: 'array',
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['cidr', 'name', 'lat', 'lon'],
        properties: {
          cidr: { type: 'string', minLength: 3, maxLength: 64 },
          name: { type: 'string', minLength: 1, maxLength: 100 },
          lat: { type: 'number', minimum: -90, maximum: 90 },
          lon: { type: 'number', minimum: -180, maximum: 180 },
        },
      },
    },
  },
} as const;

export type RiskPolicyChange = Omit<Partial<RiskPolicy>, 'weights' | 'activeHours'> & {
  weights?: Partial<Record<RiskReason, number>>;
  /** null: no usual hours. */
  activeHours?: RiskPolicy['activeHours'] | null;
};

export interface RiskPolicyView {
  tenantId: string;
  policy: RiskPolicy;
  /** null while the tenant runs on the defaults. */
  updatedAt: string | null;
}

export async function riskPolicyOf(db: SqlDatabase, tenantId: string): Promise<RiskPolicyView> {
  const row = (await db
    .prepare('SELECT policy, updated_at FROM tenant_risk_policies WHERE tenant_id = ?')
    .get(tenantId)) as { policy: string; updated_at: string } | undefined;
  if (!row) return { tenantId, policy: DEFAULT_RISK_POLICY, updatedAt: null };
  return { tenantId, policy: JSON.parse(row.policy) as RiskPolicy, updatedAt: row.updated_at };
}

/** `a.b.c.d/n` or an IPv6 prefix as a block list; throws when malformed. */
export function cidrBlock(cidr: string): BlockList {
  const [address = '', bits, extra] = cidr.split('/');
  const version = isIP(address);
  const prefix = Number(bits);
  const invalid = () =>
    new RiskPolicyInvalidError(`locations: ${JSON.stringify(cidr)} is not a CIDR block`);
  if (version === 0 || extra !== undefined || !/^\d{1,3}$/.test(bits ?? '')) throw invalid();
  if (prefix > (version === 4 ? 32 : 128)) throw invalid();
  const block = new BlockList();
  try {
    block.addSubnet(address, prefix, version === 4 ? 'ipv4' : 'ipv6');
  } catch {
    throw invalid(); // e.g. an IPv6 zone id, which isIP accepts and a block list does not
  }
  return block;
}

/** The first of the tenant's locations whose block holds `ip`. */
export function locate(policy: RiskPolicy, address: string): KnownLocation | undefined {
  // A dual-stack listener sees IPv4 clients as `::ffff:a.b.c.d`: the tenant wrote `a.b.c.d/n`.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const ip = mapped ?? address;
  const version = isIP(ip);
  if (version === 0) return undefined;
  return policy.locations.find((location) =>
    cidrBlock(location.cidr).check(ip, version === 4 ? 'ipv4' : 'ipv6'),
  );
}

function assertValid(policy: RiskPolicy): void {
  for (const location of policy.locations) cidrBlock(location.cidr);
  if (policy.activeHours) {
    const { from, to, timeZone } = policy.activeHours;
    if (from === to) throw new RiskPolicyInvalidError('activeHours: from and to must differ');
    try {
      new Intl.DateTimeFormat('en', { timeZone });
    } catch {
      throw new RiskPolicyInvalidError(
        `activeHours: unknown time zone ${JSON.stringify(timeZone)}`,
      );
    }
  }
}

export function setRiskPolicy(
  ctx: Pick<CaContext, 'store'>,
  tenant: string,
  change: RiskPolicyChange,
  meta: CommandMeta,
): Promise<RiskPolicyView> {
  return ctx.store.transaction(async () => {
    const { tenantId } = await getTenant(ctx.store.db, tenant);
    const current = (await riskPolicyOf(ctx.store.db, tenantId)).policy;
    const { activeHours, weights, ...rest } = change;
    const next: RiskPolicy = {
      ...current,
      ...rest,
      weights: { ...current.weights, ...weights },
    };
    if (activeHours === null) delete next.activeHours;
    else if (activeHours !== undefined) next.activeHours = activeHours;
    assertValid(next);
    await ctx.store.append([
      {
        eventType: 'identity.tenant.risk_policy_set',
        aggregateId: tenantId,
        tenantId,
        ...meta,
        payload: { tenantId, policy: next },
      },
    ]);
    return riskPolicyOf(ctx.store.db, tenantId);
  });
}

/**
 * The policy table, and the erasure of what the risk rules remember of a user (devices, places,
 * hours) in the erasure's own transaction, like the TOTP secrets (mfa-policy.ts).
 */
export const riskProjection: Projection = {
  name: 'risk',
  tables: ['tenant_risk_policies'],
  apply(db, event) {
    switch (event.eventType) {
      case 'identity.tenant.risk_policy_set':
        db.prepare(
          `INSERT INTO tenant_risk_policies (tenant_id, policy, updated_at) VALUES (?, ?, ?)
           ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at`,
        ).run(event.payload.tenantId, JSON.stringify(event.payload.policy), event.occurredAt);
        break;
      case 'identity.user.erased':
        db.prepare('DELETE FROM signin_history WHERE user_id = ?').run(event.payload.userId);
        break;
    }
  },
};
