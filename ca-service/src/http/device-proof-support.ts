import { DEVICE_PROOF_HEADER, InvalidRequestError } from '@lantern/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import { DeviceProofVerifier } from '../device-proof/device-proof-verifier.js';
import { noteRequestActor } from '../observability/tracing.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
  }
}

export interface DeviceProofSupport {
  /** Throws when the proof is missing or bad. */
  prove(
    request: FastifyRequest,
    options?: { expiredGraceSeconds?: number; allowRevoked?: boolean },
  ): Promise<ProvenDevice>;
  /** Undefined when the request carries no proof; throws when it carries a bad one. */
  proveIfPresent(request: FastifyRequest): Promise<ProvenDevice | undefined>;
  /** As `proveIfPresent`, accepting a binding certificate expired any time ago (re-enrollment). */
  proveIfPresentExpired(request: FastifyRequest): Promise<ProvenDevice | undefined>;
}

/**
 * For routes a device calls with a proof over the body's exact bytes: within the calling
 * plugin's scope, JSON is parsed from the same buffer that is hashed.
 */
export function deviceProofSupport(app: FastifyInstance, ctx: CaContext): DeviceProofSupport {
  const verifier = new DeviceProofVerifier(ctx);
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
  const proofOf = (request: FastifyRequest) => {
    const header = request.headers[DEVICE_PROOF_HEADER];
    return typeof header === 'string' ? header : undefined;
  };
  const prove: DeviceProofSupport['prove'] = async (request, options = {}) => {
    const device = await verifier.verify({
      proof: proofOf(request),
      method: request.method,
      path: request.url.split('?')[0] ?? request.url,
      rawBody: request.rawBody ?? Buffer.alloc(0),
      ...options,
    });
    noteRequestActor(device.tenantId, 'device');
    return device;
  };
  return {
    prove,
    proveIfPresent: async (request) =>
      proofOf(request) === undefined ? undefined : prove(request),
    proveIfPresentExpired: async (request) =>
      proofOf(request) === undefined
        ? undefined
        : prove(request, { expiredGraceSeconds: Number.MAX_SAFE_INTEGER }),
  };
}
