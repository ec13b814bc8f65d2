import type { FastifyPluginAsync } from 'fastify';
import { authorize } from '../api-keys/api-keys.js';
import type { CaContext } from '../context/ca-context.js';
import type { OfflineMethod, SecondFactor } from '../mfa/mfa-policy.js';
import { mfaPolicyBodySchema, mfaPolicyOf, setMfaPolicy } from '../mfa/mfa-policy.js';
import {
  confirmTotpEnrollment,
  mfaStatus,
  removeOwnTotp,
  resetTotp,
  startTotpEnrollment,
} from '../mfa/totp-enrollment.js';
import { getTenant } from '../tenants/tenant-commands.js';
import type { Role } from '../users/users.js';
import { deviceProofSupport } from './device-proof-support.js';
import { adminMeta, adminPrincipal, correlationIdOf } from './principal.js';
import { signedInCaller } from './signed-in.js';

const tenantParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

const userParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^usr_[0-9A-HJKMNP-TV-Z]{26}$' } },
} as const;

type RolePolicyInput = {
  required: SecondFactor[];
  offline: OfflineMethod[];
  stepUp?: boolean;
  offlineAssurance?: 'software' | 'hardware';
};

/**
 * Second factors (TOTP) for signed-in users, authenticated by the CA's own access tokens, and
 * the per-tenant MFA policy for admins (API keys, scope and tenant checked like every admin
 * route). A device-bound access token (`cnf.jkt`) is accepted only with a device proof by the
 * same key (`Lantern-Device-Proof`), so a token lifted from a device is no use elsewhere.
 */
export function mfaRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (app) => {
    const proofs = deviceProofSupport(app, ctx);

    const signedIn = signedInCaller(ctx, proofs);

    app.get('/v1/mfa', async (request) => mfaStatus(ctx, signedIn(request)));

    app.post(
      '/v1/mfa/totp/enroll',
      {
        bodyLimit: 1024,
        schema: { body: { type: 'object', additionalProperties: false, properties: {} } },
      },
      async (request, reply) => {
        const enrollment = await startTotpEnrollment(ctx, signedIn(request));
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
          signedIn(request),
          (request.body as { code: string }).code,
          correlationIdOf(request),
        ),
    );

    app.delete('/v1/mfa/totp', async (request) =>
      removeOwnTotp(ctx, signedIn(request), correlationIdOf(request)),
    );

    app.get(
      '/v1/admin/tenants/:id/mfa-policy',
      { schema: { params: tenantParam } },
      async (request) => {
        const principal = adminPrincipal(ctx, request);
        const { tenantId } = getTenant(ctx.store.db, (request.params as { id: string }).id);
        authorize(principal, 'users:read', tenantId);
        return mfaPolicyOf(ctx.store.db, tenantId);
      },
    );

    app.put(
      '/v1/admin/tenants/:id/mfa-policy',
      { schema: { params: tenantParam, body: mfaPolicyBodySchema } },
      async (request) => {
        const principal = adminPrincipal(ctx, request);
        const { tenantId } = getTenant(ctx.store.db, (request.params as { id: string }).id);
        authorize(principal, 'tenants:write', tenantId);
        const { roles } = request.body as { roles: Partial<Record<Role, RolePolicyInput>> };
        return setMfaPolicy(ctx, tenantId, roles, adminMeta(principal, request));
      },
    );

    app.post(
      '/v1/admin/users/:id/mfa/reset',
      { schema: { params: userParam } },
      async (request) => {
        const principal = adminPrincipal(ctx, request);
        authorize(principal, 'users:write');
        return resetTotp(
          ctx,
          (request.params as { id: string }).id,
          principal.tenantId,
          adminMeta(principal, request),
        );
      },
    );
  };
}
