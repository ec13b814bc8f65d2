import { DEVICE_PROOF_HEADER, InvalidRequestError } from '@lantern/shared';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import { DeviceProofVerifier } from '../device-proof/device-proof-verifier.js';
import { renewDevice } from '../renewal/renew-device.js';
import { correlationIdOf } from './principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
  }
}

const DAY_SECONDS = 86_400;

/**
 * Routes a device calls with a proof signed by its key. The proof covers the body's exact
 * bytes, so this plugin keeps them: JSON is parsed from the same buffer that is hashed.
 */
export function deviceRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (app) => {
    const proofs = new DeviceProofVerifier(ctx);
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      const raw = body as Buffer;
      request.rawBody = raw;
      if (raw.length === 0) return done(null, {});
      try {
        done(null, JSON.parse(raw.toString('utf8')));
      } catch {
        done(new InvalidRequestError('the body is not valid JSON'), undefined);
      }
    });

    const prove = (request: FastifyRequest, expiredGraceSeconds?: number): ProvenDevice => {
      const header = request.headers[DEVICE_PROOF_HEADER];
      return proofs.verify({
        proof: typeof header === 'string' ? header : undefined,
        method: request.method,
        path: request.url.split('?')[0] ?? request.url,
        rawBody: request.rawBody ?? Buffer.alloc(0),
        ...(expiredGraceSeconds === undefined ? {} : { expiredGraceSeconds }),
      });
    };

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
        const device = prove(request, ctx.bindingProfile.renewalGraceDays * DAY_SECONDS);
        const result = await renewDevice(
          ctx,
          device,
          request.body as { csr?: string },
          correlationIdOf(request),
        );
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
