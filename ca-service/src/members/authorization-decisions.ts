import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { SYSTEM_TENANT_ID } from '../context/ca-context.js';

/**
 * Scopes whose grants are recorded: changing who may do what (`members:write`), creating
 * tenants, and full `admin` routes. Other grants are not: every admin write already records
 * its own event with the actor, and reads would flood the store.
 */
export const PRIVILEGED_SCOPES: ReadonlySet<string> = new Set([
  'admin',
  'tenants:write',
  'members:write',
]);

/** The same denial (subject, action, resource) is recorded at most once a minute. */
export const DENIAL_QUIET_MS = 60_000;

export interface Decision {
  subject: string;
  /** `METHOD /route/:param`, as the route is declared. */
  action: string;
  scope: string;
  /** The tenant acted on, or null for an installation-wide route. */
  tenantId: string | null;
  /**
   * The caller's own tenant (null: an installation key). A denial of a caller reaching into a
   * tenant not its own is recorded in the installation's stream: written into the target's,
   * an outsider could write into another's audit trail; into the caller's own, its event feed
   * would show the other tenant's id (test/security/tenant-isolation-table.test.ts).
   */
  callerTenantId?: string | null;
  result: 'allow' | 'deny';
  reason?: string;
}

/**
 * Records `identity.authorization.decision_recorded` for admin actions (docs/architecture.md
 * §8): every denial of an authenticated caller, and grants of the privileged scopes. A caller
 * retrying a refused call in a loop is recorded once per quiet period, not once per request.
 */
export class AuthorizationDecisions {
  private readonly lastDenial = new Map<string, number>();

  constructor(private readonly ctx: Pick<CaContext, 'clock' | 'ids' | 'store'>) {}

  async record(decision: Decision, meta: CommandMeta): Promise<void> {
    const now = this.ctx.clock.now();
    const resource = decision.tenantId === null ? 'installation' : `tenant:${decision.tenantId}`;
    if (decision.result === 'deny') {
      const key = `${decision.subject} ${decision.action} ${resource}`;
      const last = this.lastDenial.get(key);
      if (last !== undefined && now - last < DENIAL_QUIET_MS) return;
      this.sweep(now);
      this.lastDenial.set(key, now);
    }
    const decisionId = this.ctx.ids.next('dec');
    await this.ctx.store.append([
      {
        eventType: 'identity.authorization.decision_recorded',
        aggregateId: decisionId,
        expectedVersion: 0,
        tenantId: streamOf(decision),
        ...meta,
        payload: {
          decisionId,
          subject: decision.subject,
          action: decision.action.slice(0, 200),
          scope: decision.scope,
          resource,
          result: decision.result,
          ...(decision.reason ? { reason: decision.reason.slice(0, 200) } : {}),
        },
      },
    ]);
  }

  private sweep(now: number): void {
    for (const [key, at] of this.lastDenial) {
      if (now - at >= DENIAL_QUIET_MS) this.lastDenial.delete(key);
    }
  }
}

function streamOf(decision: Decision): string {
  const outsider =
    decision.callerTenantId !== undefined &&
    decision.callerTenantId !== null &&
    decision.callerTenantId !== decision.tenantId;
  return outsider ? SYSTEM_TENANT_ID : (decision.tenantId ?? SYSTEM_TENANT_ID);
}

/** The action an admin route stands for: its method and declared path (`/v1/admin/x/:id`). */
export function actionOf(request: {
  method: string;
  routeOptions: { url?: string | undefined };
}): string {
  return `${request.method} ${request.routeOptions.url ?? '?'}`;
}

const registry = new WeakMap<object, AuthorizationDecisions>();

/** One recorder per CA context, shared by the admin API and the routes that grant access. */
export function authorizationDecisionsOf(
  ctx: Pick<CaContext, 'clock' | 'ids' | 'store'>,
): AuthorizationDecisions {
  let decisions = registry.get(ctx);
  if (!decisions) {
    decisions = new AuthorizationDecisions(ctx);
    registry.set(ctx, decisions);
  }
  return decisions;
}
