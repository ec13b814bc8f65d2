import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InternalError, NotFoundError, translateHttpError } from '@lantern/shared';

/**
 * Every error leaves the loopback API as `{ code, message }`. A 5xx says only that something
 * failed: its message could carry a path, a SQL fragment or key material, and local apps are
 * less trusted than the agent. The detail goes to the log.
 */
export function answerAgentError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
) {
  const known = translateHttpError(error);
  if (known && known.status < 500) {
    request.log.info({ code: known.code, statusCode: known.status }, 'request refused');
    // `details` of a refusal (until when a user is locked, which CA code refused) are the
    // person's own to see; a 5xx below keeps even its message.
    return reply.status(known.status).send(known.toJSON());
  }
  request.log.error({ err: error }, 'request failed');
  const masked = known ?? new InternalError();
  return reply
    .status(masked.status)
    .send({ code: masked.code, message: new InternalError().message });
}

/** Also pass `answerAgentError` as Fastify's `frameworkErrors`: the router's own refusals. */
export function installAgentErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(answerAgentError);
  app.setNotFoundHandler((request, reply) => {
    reply
      .status(404)
      .send(new NotFoundError(`no route ${request.method} ${request.url.split('?')[0]}`).toJSON());
  });
}
