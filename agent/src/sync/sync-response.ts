import type { BindingPolicy, SyncRejection, SyncResponse, UncheckedClaims } from '@lantern/shared';
import { bindingPolicyOf } from '@lantern/shared';

/**
 * A `POST /v1/sync` answer whose shape was checked; nothing in it is verified yet. Narrower than
 * what the CA sends where the agent must not or need not trust it: the page's `next` and `more`
 * are read from its signed claims, not from beside it; a rejection keeps a code this agent does
 * not know (a newer CA may add some); a malformed policy is left out.
 */
export type SyncAnswer = Omit<SyncResponse<string>, 'revocations' | 'policy'> & {
  revocations: Pick<SyncResponse['revocations'], 'page'>;
  policy?: BindingPolicy;
};

export type SyncAnswerVerdict = { ok: true; answer: SyncAnswer } | { ok: false; detail: string };

const CODE = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_MESSAGE = 500;
const MAX_ETAG = 64;

/** Checks the shape of the CA's answer, so that what follows reads typed fields only. */
export function parseSyncAnswer(body: unknown): SyncAnswerVerdict {
  if (!isObject(body)) return fail('the answer is not a JSON object');
  const fields: UncheckedClaims<SyncResponse> = body;
  const { ack, accepted, duplicates, quarantined, rejected, revocations, jwksEtag, serverTime } =
    fields;
  for (const [name, value] of Object.entries({ ack, accepted, duplicates, quarantined })) {
    if (!isCount(value)) return fail(`${name} is not a non-negative integer`);
  }
  if (!Array.isArray(rejected)) return fail('rejected is not an array');
  const rejections: SyncRejection<string>[] = [];
  for (const item of rejected) {
    if (!isObject(item)) return fail('a rejection is not an object');
    const { seq, code, message }: UncheckedClaims<SyncRejection> = item;
    if (!isCount(seq) || seq < 1) return fail('a rejection has no valid seq');
    if (typeof code !== 'string' || !CODE.test(code)) return fail('a rejection has no valid code');
    const text = typeof message === 'string' ? message.slice(0, MAX_MESSAGE) : '';
    rejections.push({ seq, code, message: text });
  }
  if (!isObject(revocations) || typeof revocations['page'] !== 'string') {
    return fail('revocations.page is missing');
  }
  if (typeof jwksEtag !== 'string' || jwksEtag.length === 0 || jwksEtag.length > MAX_ETAG) {
    return fail('jwksEtag is missing or too long');
  }
  if (typeof serverTime !== 'string') return fail('serverTime is missing');
  const { jwks } = fields;
  if (jwks !== undefined && typeof jwks !== 'string') return fail('jwks is not a signed key set');
  // Advisory: a policy of the wrong shape is left out rather than failing the round.
  const policy = bindingPolicyOf(fields.policy);
  return {
    ok: true,
    answer: {
      ack: ack as number,
      accepted: accepted as number,
      duplicates: duplicates as number,
      rejected: rejections,
      quarantined: quarantined as number,
      revocations: { page: revocations['page'] },
      ...(jwks === undefined ? {} : { jwks }),
      jwksEtag,
      ...(policy === undefined ? {} : { policy }),
      serverTime,
    },
  };
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
