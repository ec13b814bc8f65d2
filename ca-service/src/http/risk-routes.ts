import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import type { RiskPolicyChange } from '../mfa/risk-policy.js';
import { riskPolicyBodySchema, riskPolicyOf, setRiskPolicy } from '../mfa/risk-policy.js';

const tenantParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

/** A tenant's adaptive-MFA policy (rule weights, threshold, hours, locations), under `adminApi`. */
export function riskAdminRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.get(
      '/v1/admin/tenants/:id/risk-policy',
      { config: { scope: 'users:read', tenant: 'param' }, schema: { params: tenantParam } },
      async (request) => riskPolicyOf(ctx.store.db, request.admin.namedTenant()),
    );

    app.put(
      '/v1/admin/tenants/:id/risk-policy',
      {
        config: { scope: 'tenants:write', tenant: 'param' },
        schema: { params: tenantParam, body: riskPolicyBodySchema },
      },
      async (request) =>
        setRiskPolicy(
          ctx,
          request.admin.namedTenant(),
          request.body as RiskPolicyChange,
          request.admin.meta,
        ),
    );
  };
}
