import {
  InternalError,
  InvalidRequestError,
  NotFoundError,
  translateHttpError,
} from '@lantern/shared';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PostgresError } from '../store/postgres/postgres-error.js';

/**
 * PostgreSQL refuses some values SQLite stores (a NUL in text, an integer past 64 bits): SQLSTATE
 * class 22, data exception. They come from the request, so they are its fault, as on SQLite.
 */
function refusedValue(error: unknown) {
  return error instanceof PostgresError && error.code?.startsWith('22') === true
    ? new InvalidRequestError('a value in the request is out of range or not valid text')
    : undefined;
}

/** Every error leaves as `{ code, message }`; 5xx details stay in the log. */
export function answerError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const known = translateHttpError(error) ?? refusedValue(error);
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
