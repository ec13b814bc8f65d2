import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import type { CrlPublisher } from '../revocation/crl-publisher.js';

/** Public, unauthenticated: the trust material every relying party needs. */
export function caRoutes(ctx: CaContext, crls: CrlPublisher): FastifyPluginAsync {
  return async (app) => {
    app.get('/v1/ca/root', async (_request, reply) =>
      reply.type('application/x-pem-file').send(ctx.ca.rootPem),
    );
    app.get('/v1/ca/chain', async (_request, reply) =>
      reply.type('application/x-pem-file').send(`${ctx.ca.issuingPem}${ctx.ca.rootPem}`),
    );
    app.get('/v1/crl', async (_request, reply) =>
      reply.type('application/pkix-crl').send(await crls.current('full')),
    );
    app.get('/v1/crl/delta', async (_request, reply) =>
      reply.type('application/pkix-crl').send(await crls.current('delta')),
    );
  };
}
