import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import { renewDevice } from '../renewal/renew-device.js';
import { deviceProofSupport } from './device-proof-support.js';
import { correlationIdOf } from './principal.js';

const DAY_SECONDS = 86_400;

export function deviceRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    const proofs = deviceProofSupport(app, ctx);
    app.post(
      '/v1/devices/renew',
      {
        bodyLimit: 16 * 1024,
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            properties: { csr: { type: 'string', minLength: 1, maxLength: 8192 } },
          },
        },
      },
      async (request) => {
        const device = await proofs.prove(request, {
          expiredGraceSeconds: ctx.bindingProfile.renewalGraceDays * DAY_SECONDS,
        });
        const result = await renewDevice(ctx, device, request.body, correlationIdOf(request));
        ctx.metrics.offlineCertsIssued.inc({ tenant_id: device.tenantId });
        request.log.info(
          {
            event: 'device.offline_cert.issued',
            deviceId: device.deviceId,
            tenantId: device.tenantId,
          },
          'binding renewed',
        );
        return result;
      },
    );
  };
}
