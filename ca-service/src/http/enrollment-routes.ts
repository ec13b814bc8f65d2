import rateLimit from '@fastify/rate-limit';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import { enrollDevice } from '../enrollment/enroll-device.js';
import { tpmChallenge } from '../enrollment/tpm/tpm-attestation.js';
import { correlationIdOf } from './principal.js';
import { deviceProofSupport } from './device-proof-support.js';

export interface EnrollmentRoutesOptions {
  rateLimitPerMinute: number;
}

export function enrollmentRoutes(
  ctx: CaContext,
  options: EnrollmentRoutesOptions,
): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    await app.register(rateLimit, { max: options.rateLimitPerMinute, timeWindow: 60_000 });
    const proofs = deviceProofSupport(app, ctx);
    app.post(
      '/v1/devices/enroll',
      {
        bodyLimit: 16 * 1024,
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['enrollmentToken', 'csr'],
            properties: {
              enrollmentToken: { type: 'string', minLength: 1, maxLength: 200 },
              csr: { type: 'string', minLength: 1, maxLength: 8192 },
              tenant: { type: 'string', minLength: 1, maxLength: 100 },
              name: { type: 'string', minLength: 1, maxLength: 100 },
              keyAssurance: { type: 'string', enum: ['software', 'hardware'] },
              tpmAttestation: {
                type: 'object',
                additionalProperties: false,
                required: ['challenge', 'secret', 'devicePublic', 'certifyInfo', 'signature'],
                properties: {
                  challenge: { type: 'string', minLength: 1, maxLength: 4096 },
                  secret: BASE64,
                  devicePublic: BASE64,
                  certifyInfo: BASE64,
                  signature: BASE64,
                },
              },
            },
          },
        },
      },
      async (request, reply) => {
        // Re-enrollment (docs/architecture.md §2 Lifetimes): a proof by the device's old key, however long
        // expired, names the device the token binds anew, so its identity and history carry on.
        const previous = await proofs.proveIfPresentExpired(request);
        const result = await enrollDevice(ctx, request.body, correlationIdOf(request), previous);
        request.log.info(
          {
            event: 'device.offline_cert.issued',
            deviceId: result.deviceId,
            tenantId: result.tenantId,
          },
          'device enrolled',
        );
        ctx.metrics.deviceEnrolled(result.tenantId);
        return reply.status(201).send(result);
      },
    );
    // Step one of TPM attestation (hardware tier), before `enroll`: see tpm-attestation.ts.
    app.post(
      '/v1/devices/attestation/challenge',
      {
        bodyLimit: 16 * 1024,
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['enrollmentToken', 'ekCertificate', 'akPublic'],
            properties: {
              enrollmentToken: { type: 'string', minLength: 1, maxLength: 200 },
              ekCertificate: {
                type: 'string',
                minLength: 1,
                maxLength: 8192,
                pattern: BASE64.pattern,
              },
              akPublic: BASE64,
            },
          },
        },
      },
      (request) => tpmChallenge(ctx, request.body),
    );
  };
}

const BASE64 = {
  type: 'string',
  minLength: 1,
  maxLength: 1024,
  pattern: '^[A-Za-z0-9+/]+={0,2}$',
} as const;
