import type { FastifyError, FastifyInstance } from 'fastify';
import {
  BodyTooLargeError,
  InternalError,
  InvalidRequestError,
  LanternError,
  NotFoundError,
  UnsupportedMediaTypeError,
} from '@lantern/shared';

function translate(error: FastifyError): LanternError | undefined {
  if (error instanceof LanternError) return error;
  if (error.validation) {
    const first = error.validation[0];
    const where = `${error.validationContext ?? 'body'}${first?.instancePath ?? ''}`;
    return new InvalidRequestError(`${where} ${first?.message ?? 'is invalid'}`);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new BodyTooLargeError();
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaTypeError();
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new InvalidRequestError('the body is not valid JSON');
  }
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new InvalidRequestError(error.message);
  }
  return undefined;
}

/**
 * Every error leaves the loopback API as `{ code, message }`. A 5xx says only that something
 * failed: its message could carry a path, a SQL fragment or key material, and local apps are
 * less trusted than the agent. The detail goes to the log.
 */
export function installAgentErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = translate(error);
    if (known && known.status < 500) {
      request.log.info({ code: known.code, statusCode: known.status }, 'request refused');
      return reply.status(known.status).send({ code: known.code, message: known.message });
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
