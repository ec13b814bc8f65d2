import { defineError } from './lantern-error.js';

export const InvalidRequestError = defineError(
  'invalid_request',
  400,
  'The request body, query or parameters do not match what the endpoint accepts.',
  'Read `message` (it names the field) and send a body that matches the endpoint schema in /openapi.json.',
);
export const BodyTooLargeError = defineError(
  'body_too_large',
  413,
  'The request body is larger than the endpoint allows.',
  'Send a smaller body; sync pushes should be split into several rounds.',
);
export const UnsupportedMediaTypeError = defineError(
  'unsupported_media_type',
  415,
  'The request has a Content-Type the endpoint does not accept.',
  'Send `Content-Type: application/json`.',
);
export const NotFoundError = defineError(
  'not_found',
  404,
  'No such route or resource (or it belongs to another tenant).',
  'Check the id and the tenant your credentials belong to.',
);
export const UnauthorizedError = defineError(
  'unauthorized',
  401,
  'The call needs credentials and none valid were presented.',
  'Send `Authorization: Bearer <api key>` (admin routes) or a device proof (device routes).',
);
export const ForbiddenError = defineError(
  'forbidden',
  403,
  'The credentials are valid but lack the scope or tenant for this call.',
  'Use a key with the scope named in `message`, issued for the same tenant.',
);
export const RateLimitedError = defineError(
  'rate_limited',
  429,
  'Too many requests from this client in the current window.',
  'Wait for the time given in the `retry-after` header, then retry.',
);
export const SchemaViolationError = defineError(
  'schema_violation',
  400,
  'An event payload does not match its JSON Schema.',
  'Read `message`: it names the event type and the field; fix the producer.',
);
export const UnknownEventTypeError = defineError(
  'unknown_event_type',
  400,
  'The event type and version are not in the catalogue.',
  'Use one of the types in @lantern/shared events catalogue, or add a schema for the new one.',
);
export const ConcurrencyConflictError = defineError(
  'concurrency_conflict',
  409,
  'Another writer appended to the same aggregate first (optimistic concurrency).',
  'Reload the aggregate and retry the command.',
);
export const ChainInvalidError = defineError(
  'chain_invalid',
  401,
  'A certificate chain did not validate to the pinned root.',
  'Check that the certificate was issued by this CA, is within validity and is not revoked.',
);
export const InternalError = defineError(
  'internal_error',
  500,
  'An unexpected failure inside the service. Details are logged, never returned.',
  'Retry; if it persists, look up the request id in the service logs.',
);
export const ServiceUnavailableError = defineError(
  'service_unavailable',
  503,
  'A dependency the call needs (store, signer, broker) is not ready.',
  'Retry after a moment; /health/ready names the failing check.',
);

export const UnusableKeyError = defineError(
  'unusable_key',
  500,
  'A key offered for signing or verifying tokens is not one Lantern accepts: not EC P-256 (or Ed25519 where EdDSA is enabled), private parts where only public ones belong, or a duplicate kid.',
  'Publish only public EC P-256 keys with distinct kids in the JWKS, and sign with the matching private key.',
);

export const sharedErrors = [
  InvalidRequestError,
  BodyTooLargeError,
  UnsupportedMediaTypeError,
  NotFoundError,
  UnauthorizedError,
  ForbiddenError,
  RateLimitedError,
  SchemaViolationError,
  UnknownEventTypeError,
  ConcurrencyConflictError,
  ChainInvalidError,
  InternalError,
  ServiceUnavailableError,
  UnusableKeyError,
] as const;

export type SharedErrorCode = (typeof sharedErrors)[number]['definition']['code'];
