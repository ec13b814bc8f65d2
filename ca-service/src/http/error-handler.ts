import { InternalError, NotFoundError, translateHttpError } from '@lantern/shared';
import type { FastifyError, FastifyInstance } from 'fastify';

/** Every error leaves as `{ code, message }`; 5xx details stay in the log. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = translateHttpError(error);
    if (known && known.status < 500) {
      request.log.info({ code: known.code, statusCode: known.status }, 'request refused');
      return reply.status(known.status).send(known.toJSON());
    }
    request.log.error({ err: error }, 'request failed');
    const masked = known ?? new InternalError();
    return reply
      .status(masked.status)
      .send({ code: masked.code, message: new InternalError().message });
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send(new NotFoundError(`no route ${request.method} ${request.url.split('?')[0]}`).toJSON());
  });
}
