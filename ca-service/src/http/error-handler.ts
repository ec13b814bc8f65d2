import {
  BodyTooLargeError,
  InternalError,
  InvalidRequestError,
  LanternError,
  NotFoundError,
  RateLimitedError,
  UnsupportedMediaTypeError,
} from '@lantern/shared';
import type { FastifyError, FastifyInstance } from 'fastify';

function translate(error: FastifyError): LanternError | undefined {
  if (error instanceof LanternError) return error;
  if (error.validation) {
    const first = error.validation[0];
    const where = `${error.validationContext ?? 'body'}${first?.instancePath ?? ''}`;
    const missing =
      first?.params && 'missingProperty' in first.params
        ? `/${String(first.params['missingProperty'])}`
        : '';
    const extra =
      first?.params && 'additionalProperty' in first.params
        ? ` (unknown property "${String(first.params['additionalProperty'])}")`
        : '';
    return new InvalidRequestError(`${where}${missing} ${first?.message ?? 'is invalid'}${extra}`);
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
    case 'FST_ERR_NOT_FOUND':
      return new NotFoundError();
  }
  if (error.statusCode === 429) return new RateLimitedError();
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new InvalidRequestError(error.message);
  }
  return undefined;
}

/** Every error leaves as `{ code, message }`; 5xx details stay in the log. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = translate(error);
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
