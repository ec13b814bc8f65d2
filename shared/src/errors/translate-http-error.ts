import {
  BodyTooLargeError,
  InvalidRequestError,
  NotFoundError,
  RateLimitedError,
  UnsupportedMediaTypeError,
} from './errors.js';
import { LanternError } from './lantern-error.js';

/** The parts of a Fastify error the translation reads (kept structural: shared has no Fastify). */
export interface HttpFrameworkError {
  message: string;
  code?: string;
  statusCode?: number;
  validation?: readonly {
    instancePath?: string;
    message?: string;
    params?: Record<string, unknown>;
  }[];
  validationContext?: string;
}

/**
 * Maps what the HTTP framework throws (schema validation, body parsing, limits) to Lantern's
 * stable codes, naming the field at fault. Undefined means unexpected: the caller masks it as a 5xx.
 */
export function translateHttpError(error: HttpFrameworkError): LanternError | undefined {
  if (error instanceof LanternError) return error;
  if (error.validation) {
    const first = error.validation[0];
    const where = `${error.validationContext ?? 'body'}${first?.instancePath ?? ''}`;
    const params = first?.params ?? {};
    const missing = 'missingProperty' in params ? `/${String(params['missingProperty'])}` : '';
    const extra =
      'additionalProperty' in params
        ? ` (unknown property "${String(params['additionalProperty'])}")`
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
    // Raised by the router before any handler runs (bad percent-encoding, an over-long segment).
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new InvalidRequestError('the URL path is malformed or a segment is too long');
  }
  if (error.statusCode === 429) return new RateLimitedError();
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new InvalidRequestError(error.message);
  }
  return undefined;
}
