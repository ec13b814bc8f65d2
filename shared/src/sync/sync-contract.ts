import { sha256 } from '../crypto/sha256.js';
import { canonicalJson } from '../encoding/canonical-json.js';
import type { EventEnvelope } from '../events/envelope.js';
import { ENVELOPE_REQUIRED } from '../events/envelope.js';
import type { JsonSchema } from '../events/schema-parts.js';

/**
 * The wire contract of `POST /v1/sync` (docs/architecture.md §5), for the CA that answers it and the agent
 * that sends it: a change to a shape here is one edit that both sides' type checks follow.
 */

/** Most events one push may carry: the CA's schema refuses more, the agent never sends more. */
export const MAX_SYNC_BATCH = 500;

/** `typ` headers of what the issuing CA signs for devices (`x5c` = the issuing certificate). */
export const REVOCATION_PAGE_TYP = 'lantern-revocations+jws';
export const SERVER_TIME_TYP = 'lantern-time+jws';
export const SIGNED_JWKS_TYP = 'lantern-jwks+jws';

/** Offline policy as the CA states it at enrollment, renewal and sync. */
export interface BindingPolicy {
  maxOfflineSeconds: number;
  /** Fraction of the certificate lifetime after which the agent renews (docs/architecture.md §3.4). */
  renewFromFraction: number;
  renewalGraceDays: number;
}

/** The policy in an answer, or undefined when it is not one. */
export function bindingPolicyOf(value: unknown): BindingPolicy | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { maxOfflineSeconds, renewFromFraction, renewalGraceDays }: UncheckedClaims<BindingPolicy> =
    value;
  if (
    !isCount(maxOfflineSeconds) ||
    !isCount(renewalGraceDays) ||
    typeof renewFromFraction !== 'number' ||
    !(renewFromFraction > 0 && renewFromFraction < 1)
  ) {
    return undefined;
  }
  return { maxOfflineSeconds, renewFromFraction, renewalGraceDays };
}

/** One entry of a tenant's revocation feed, as a signed page carries it. */
export interface RevocationEntry {
  seq: number;
  /** `device`, `user`, `session`, `grant` today; readers skip kinds they do not know. */
  kind: string;
  id: string;
  /** Hex serial of the device's binding certificate, on `device` entries. */
  serial?: string;
  /** ISO 8601, CA time. */
  revokedAt: string;
  reason: string;
}

/** Claims of a revocation page (`REVOCATION_PAGE_TYP`). */
export interface RevocationPageClaims {
  iss: string;
  typ: 'revocations';
  tenantId: string;
  after: number;
  next: number;
  more: boolean;
  entries: RevocationEntry[];
  iat: number;
  /** Pages may travel peer to peer; a stale one must not pass for current forever. */
  exp: number;
}

/** Claims of the token keys as the issuing CA vouches for them (`SIGNED_JWKS_TYP`). */
export interface SignedJwksClaims {
  typ: 'jwks';
  iss: string;
  iat: number;
  exp: number;
  etag: string;
  keys: unknown[];
}

/**
 * Claims of the signed server time (`SERVER_TIME_TYP`). It binds the whole answer to one
 * request: an older signed page or key set spliced into a fresh answer, or a whole answer
 * replayed, is refused.
 */
export interface ServerTimeClaims {
  typ: 'time';
  /** The CA's name for itself, and where it is reached now: signed, so not taken from the wire. */
  iss: string;
  urls: string[];
  /** The device the answer is for. */
  aud: string;
  iat: number;
  exp: number;
  /** The `jti` of the device proof of the request. */
  nonce: string;
  /** `syncAnswerDigest` of the answer. */
  answer: string;
  /** The tenant's feed head when the page was read. */
  head: number;
}

export interface SyncPushedEvent {
  /** The device's own sequence number: 1, 2, 3 … */
  seq: number;
  event: EventEnvelope;
}

export interface SyncRequest {
  events: SyncPushedEvent[];
  revocationCursor: number;
  /** The etag of the token keys the device holds; the answer carries the keys when it is old. */
  jwksEtag?: string;
}

export const SYNC_REJECTION_CODES = [
  'sequence_conflict',
  'event_not_allowed',
  'schema_violation',
  'tenant_mismatch',
] as const;
export type SyncRejectionCode = (typeof SYNC_REJECTION_CODES)[number];

/**
 * One event the CA refused for good; it is acked all the same. `Code` is wider on the reading
 * side: a newer CA may refuse with a code this agent does not know, and it is kept all the same.
 */
export interface SyncRejection<Code extends string = SyncRejectionCode> {
  seq: number;
  code: Code;
  message: string;
}

export interface SyncResponse<Code extends string = SyncRejectionCode> {
  /** Highest sequence such that every event up to it is stored (or was refused for good). */
  ack: number;
  accepted: number;
  duplicates: number;
  rejected: SyncRejection<Code>[];
  quarantined: number;
  /** `page`: the signed page of the feed after the device's cursor (`RevocationPageClaims`). */
  revocations: { page: string; next: number; more: boolean };
  /** Signed token keys (`SignedJwksClaims`), when the device's etag is old. */
  jwks?: string;
  jwksEtag: string;
  policy: BindingPolicy;
  /** Signed server time (`ServerTimeClaims`), bound to this request and answer. */
  serverTime: string;
}

/**
 * A signed object's fields before they are checked: the names are the contract's, so a reader
 * follows a renamed field, and every value is still to be checked.
 */
export type UncheckedClaims<T> = { readonly [K in keyof T]?: unknown };

/** What `ServerTimeClaims.answer` is the digest of: the answer without the server time. */
export type SyncAnswerBody = Omit<SyncResponse, 'serverTime'>;

/** SHA-256 (base64url) of the canonical JSON of an answer without its `serverTime`. */
export function syncAnswerDigest(answer: SyncAnswerBody | Record<string, unknown>): string {
  const { serverTime: _, ...rest } = answer as Record<string, unknown>;
  return Buffer.from(sha256(canonicalJson(rest))).toString('base64url');
}

/**
 * The request body's JSON Schema. Each event is only checked for the envelope's fields here:
 * the CA checks it against its catalogue schema one by one, so a bad event is refused alone
 * (`schema_violation`) rather than failing the whole batch.
 */
export const SYNC_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['events', 'revocationCursor'],
  properties: {
    events: {
      type: 'array',
      maxItems: MAX_SYNC_BATCH,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['seq', 'event'],
        properties: {
          seq: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          // The id must at least be text: the CA keeps a receipt naming it even for an event it
          // refuses (which the catalogue schema then does, one event at a time).
          event: {
            type: 'object',
            required: ENVELOPE_REQUIRED,
            properties: { eventId: { type: 'string' } },
          },
        },
      },
    },
    revocationCursor: { type: 'integer', minimum: 0 },
    jwksEtag: { type: 'string', maxLength: 64 },
  },
} as const satisfies JsonSchema;

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
