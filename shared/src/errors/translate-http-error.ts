import {
  BodyTooLargeError,
  InvalidRequestError,
  NotFoundError,
  RateLimitedError,
  UnsupportedMediaTypeError,
} from './errors.js';
import { ID_NOUNS } from '../ids/ids.js';
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

/** The id patterns of the schemas (`idPattern`, `idParam`): a raw regex helps nobody. */
const ID_SCHEMA_PATTERN = /^\^(\[a-z\]\{3\}|[a-z]{3})_\[0-9A-HJKMNP-TV-Z\]\{26\}\$$/;

function patternMessage(where: string, pattern: unknown): string | undefined {
  const prefix = typeof pattern === 'string' ? ID_SCHEMA_PATTERN.exec(pattern)?.[1] : undefined;
  if (prefix === undefined) return undefined;
  const kind = (ID_NOUNS as Readonly<Record<string, string>>)[prefix];
  return kind === undefined
    ? `${where} is not an id: those are a three-letter prefix, "_" and 26 letters and digits (dev_…, usr_…)`
    : `${where} is not a ${kind} id: those are ${prefix}_ followed by 26 letters and digits, as the lists show them`;
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
    const idMessage = patternMessage(where, params['pattern']);
    if (idMessage !== undefined) return new InvalidRequestError(idMessage);
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
