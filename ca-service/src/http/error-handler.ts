import { InternalError, NotFoundError, translateHttpError } from '@lantern/shared';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Every error leaves as `{ code, message }`; 5xx details stay in the log. */
export function answerError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const known = translateHttpError(error);
  if (known && known.status < 500) {
    request.log.info({ code: known.code, statusCode: known.status }, 'request refused');
    const retryAfter = known.details?.['retryAfterSeconds'];
    if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
    return reply.status(known.status).send(known.toJSON());
  }
  request.log.error({ err: error }, 'request failed');
  const masked = known ?? new InternalError();
  return reply
    .status(masked.status)
    .send({ code: masked.code, message: new InternalError().message });
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(answerError);
  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send(new NotFoundError(`no route ${request.method} ${request.url.split('?')[0]}`).toJSON());
  });
}
