import type { BindingPolicy } from '../enrollment/device-binding.js';

/** One event the CA refused for good; it is acked all the same and kept here for inspection. */
export interface SyncRejection {
  seq: number;
  code: string;
  message: string;
}

/** A `POST /v1/sync` answer whose shape was checked; nothing in it is verified yet. */
export interface SyncAnswer {
  ack: number;
  accepted: number;
  duplicates: number;
  rejected: SyncRejection[];
  quarantined: number;
  /** Compact JWS; `next` and `more` are read from its signed claims, not from beside it. */
  revocationPage: string;
  /** JWS by the issuing CA over the token keys; verified before anything is cached. */
  jwks?: string;
  jwksEtag: string;
  policy?: BindingPolicy;
  /** Compact JWS bound to the proof's jti. */
  serverTime: string;
}

export type SyncAnswerVerdict = { ok: true; answer: SyncAnswer } | { ok: false; detail: string };

const CODE = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_MESSAGE = 500;
const MAX_ETAG = 64;

/** Checks the shape of the CA's answer, so that what follows reads typed fields only. */
export function parseSyncAnswer(body: unknown): SyncAnswerVerdict {
  if (!isObject(body)) return fail('the answer is not a JSON object');
  const { ack, accepted, duplicates, quarantined, rejected, revocations, jwksEtag, serverTime } =
    body;
  for (const [name, value] of Object.entries({ ack, accepted, duplicates, quarantined })) {
    if (!isCount(value)) return fail(`${name} is not a non-negative integer`);
  }
  if (!Array.isArray(rejected)) return fail('rejected is not an array');
  const rejections: SyncRejection[] = [];
  for (const item of rejected) {
    if (!isObject(item) || !isCount(item['seq']) || (item['seq'] as number) < 1) {
      return fail('a rejection has no valid seq');
    }
    const code = typeof item['code'] === 'string' && CODE.test(item['code']) ? item['code'] : null;
    if (code === null) return fail('a rejection has no valid code');
    const message = typeof item['message'] === 'string' ? item['message'] : '';
    rejections.push({ seq: item['seq'] as number, code, message: message.slice(0, MAX_MESSAGE) });
  }
  if (!isObject(revocations) || typeof revocations['page'] !== 'string') {
    return fail('revocations.page is missing');
  }
  if (typeof jwksEtag !== 'string' || jwksEtag.length === 0 || jwksEtag.length > MAX_ETAG) {
    return fail('jwksEtag is missing or too long');
  }
  if (typeof serverTime !== 'string') return fail('serverTime is missing');
  if (body['jwks'] !== undefined && typeof body['jwks'] !== 'string') {
    return fail('jwks is not a signed key set');
  }
  const policy = policyOf(body['policy']);
  return {
    ok: true,
    answer: {
      ack: ack as number,
      accepted: accepted as number,
      duplicates: duplicates as number,
      rejected: rejections,
      quarantined: quarantined as number,
      revocationPage: revocations['page'],
      ...(typeof body['jwks'] === 'string' ? { jwks: body['jwks'] } : {}),
      jwksEtag,
      ...(policy === undefined ? {} : { policy }),
      serverTime,
    },
  };
}

/** A policy of the wrong shape is left out rather than failing the round: it is advisory. */
function policyOf(value: unknown): BindingPolicy | undefined {
  if (!isObject(value)) return undefined;
  const { maxOfflineSeconds, renewFromFraction, renewalGraceDays } = value;
  if (
    !isCount(maxOfflineSeconds) ||
    typeof renewFromFraction !== 'number' ||
    !(renewFromFraction > 0 && renewFromFraction < 1) ||
    !isCount(renewalGraceDays)
  ) {
    return undefined;
  }
  return { maxOfflineSeconds, renewFromFraction, renewalGraceDays };
}

function fail(detail: string): SyncAnswerVerdict {
  return { ok: false, detail };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
