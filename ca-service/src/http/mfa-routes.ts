import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import { mfaPolicyBodySchema, mfaPolicyOf, setMfaPolicy } from '../mfa/mfa-policy.js';
import {
  confirmTotpEnrollment,
  mfaStatus,
  removeOwnTotp,
  resetTotp,
  startTotpEnrollment,
} from '../mfa/totp-enrollment.js';
import { verifyEnrollmentToken } from '../mfa/totp-reenrolment.js';
import {
  setTenantPasswordPolicy,
  tenantPasswordPolicyBodySchema,
  tenantPasswordPolicyOf,
} from '../tenants/tenant-password-policy.js';
import { deviceProofSupport } from './device-proof-support.js';
import { bearer, correlationIdOf } from './principal.js';
import { idParam } from './schemas.js';
import { signedInCaller } from './signed-in.js';

const tenantParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

/**
 * Second factors (TOTP) for signed-in users, authenticated by the CA's own access tokens. A
 * device-bound access token (`cnf.jkt`) is accepted only with a device proof by the same key
 * (`Lantern-Device-Proof`), so a token lifted from a device is no use elsewhere.
 */
export function mfaRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    const proofs = deviceProofSupport(app, ctx);

    const signedIn = signedInCaller(ctx, proofs);
    // Enrolling (and only that) also takes the enrolment token of `mfa_enrollment_required`.
    const enrolling: typeof signedIn = async (request) =>
      verifyEnrollmentToken(ctx, bearer(request)) ?? signedIn(request);

    app.get('/v1/mfa', async (request) => mfaStatus(ctx, await signedIn(request)));

    app.post(
      '/v1/mfa/totp/enroll',
      {
        bodyLimit: 1024,
        schema: { body: { type: 'object', additionalProperties: false, properties: {} } },
      },
      async (request, reply) => {
        const enrollment = await startTotpEnrollment(ctx, await enrolling(request));
        return reply.header('cache-control', 'no-store').status(201).send(enrollment);
      },
    );

    app.post(
      '/v1/mfa/totp/confirm',
      {
        bodyLimit: 1024,
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['code'],
            properties: { code: { type: 'string', pattern: '^[0-9]{6,10}$' } },
          },
        },
      },
      async (request) =>
        confirmTotpEnrollment(
          ctx,
          await enrolling(request),
          request.body.code,
          correlationIdOf(request),
        ),
    );

    app.delete('/v1/mfa/totp', async (request) =>
      removeOwnTotp(ctx, await signedIn(request), correlationIdOf(request)),
    );
  };
}

/** The per-tenant MFA policy and an admin's reset of a user's TOTP, under `adminApi`. */
export function mfaAdminRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.get(
      '/v1/admin/tenants/:id/mfa-policy',
      { config: { scope: 'users:read', tenant: 'param' }, schema: { params: tenantParam } },
      async (request) => mfaPolicyOf(ctx.store.db, request.admin.namedTenant()),
    );

    app.put(
      '/v1/admin/tenants/:id/mfa-policy',
      {
        config: { scope: 'tenants:write', tenant: 'param' },
        schema: { params: tenantParam, body: mfaPolicyBodySchema },
      },
      async (request) => {
        const { roles } = request.body;
        return setMfaPolicy(ctx, request.admin.namedTenant(), roles, request.admin.meta);
      },
    );

    // The tenant's password strength (tenants/tenant-password-policy.ts), beside its MFA policy.
    app.get(
      '/v1/admin/tenants/:id/password-policy',
      { config: { scope: 'users:read', tenant: 'param' }, schema: { params: tenantParam } },
      async (request) => tenantPasswordPolicyOf(ctx.store, request.admin.namedTenant()),
    );

    app.put(
      '/v1/admin/tenants/:id/password-policy',
      {
        config: { scope: 'tenants:write', tenant: 'param' },
        schema: { params: tenantParam, body: tenantPasswordPolicyBodySchema },
      },
      async (request) =>
        setTenantPasswordPolicy(ctx, request.admin.namedTenant(), request.body, request.admin.meta),
    );

    app.post(
      '/v1/admin/users/:id/mfa/reset',
      { config: { scope: 'users:write' }, schema: { params: idParam('usr') } },
      async (request) =>
        resetTotp(ctx, request.params.id, request.admin.tenantId, request.admin.meta),
    );
  };
}
