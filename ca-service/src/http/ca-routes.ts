import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import { jwksEtag, signedJwks } from '../pki/signed-jwks.js';
import type { CrlPublisher } from '../revocation/crl-publisher.js';

/** Public, unauthenticated: the trust material every relying party needs. */
export function caRoutes(ctx: CaContext, crls: CrlPublisher): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    app.get('/v1/ca/root', async (_request, reply) =>
      reply.type('application/x-pem-file').send(ctx.ca.rootPem),
    );
    app.get('/v1/ca/chain', async (_request, reply) =>
      reply.type('application/x-pem-file').send(`${ctx.ca.issuingPem}${ctx.ca.rootPem}`),
    );
    // What agents cache token keys from: signed, so a man in the middle cannot plant a key.
    app.get('/v1/ca/jwks.jws', async () => {
      const jwks = ctx.tokenKeys.jwks();
      const etag = jwksEtag(jwks);
      return { jwks: await signedJwks(ctx, jwks, etag), jwksEtag: etag };
    });
    // `?issuer=<SKI hex>` picks an issuing CA, current or retired (the distribution point of
    // each certificate names its own); without it, the current one's.
    const crlQuery = {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { issuer: { type: 'string', pattern: '^[0-9a-fA-F]{40}$' } },
      },
    } as const;
    for (const [url, kind] of [
      ['/v1/crl', 'full'],
      ['/v1/crl/delta', 'delta'],
    ] as const) {
      app.get(url, { schema: crlQuery }, async (request, reply) =>
        reply.type('application/pkix-crl').send(await crls.current(kind, request.query.issuer)),
      );
    }
    // Every issuing CA with its chain: relying parties that cache chains learn a rotation here.
    app.get('/v1/ca/issuers', async () => ({
      current: ctx.ca.authority.keyId.toString('hex'),
      issuers: [
        {
          keyId: ctx.ca.authority.keyId.toString('hex'),
          certificate: ctx.ca.issuingPem,
          retired: false,
        },
        ...ctx.ca.retired.map((retired) => ({
          keyId: retired.authority.keyId.toString('hex'),
          certificate: retired.pem,
          retired: true,
        })),
      ],
      root: ctx.ca.rootPem,
    }));
  };
}
