import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import type { CaContext } from '../context/ca-context.js';
import {
  IdempotencyKeyInProgressError,
  IdempotencyKeyInvalidError,
  IdempotencyKeyReusedError,
} from '../errors.js';

/** How long an answer is replayed (the identity schemas' §7: 24 h). */
export const IDEMPOTENCY_TTL_SECONDS = 86_400;
/** A claim older than this with no answer is taken over: its request died before answering. */
export const IDEMPOTENCY_CLAIM_SECONDS = 60;
/** Printable ASCII, no spaces, as Stripe and the IETF draft use it. */
const KEY_FORMAT = /^[\x21-\x7e]{1,255}$/;

interface Claim {
  scope: string;
  key: string;
  /** When this request claimed the key: a claim taken over since is another request's. */
  claimedAt: string;
}

interface KeyRow {
  body_hash: string;
  status: number | null;
  response: string | null;
  created_at: string;
}

interface StoredAnswer {
  contentType: string | undefined;
  body: string;
}

/** JSON with object keys sorted: the same body sent with its keys in another order is the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * `Idempotency-Key` on every admin POST (installed by `adminApi`, after authorization): the
 * first request under a key claims it (tenant, principal, method and URL, body hash); its
 * answer, unless a 5xx, is kept sealed (it may hold a secret: a new API key, an enrollment
 * token) for IDEMPOTENCY_TTL_SECONDS. The same key and body then get that answer again, with
 * `Idempotency-Replayed: true` and no second effect; another body under the key is refused
 * (422 `idempotency_key_reused`); a duplicate that arrives while the first is still running is
 * refused (409 `idempotency_key_in_progress`), so concurrent duplicates have one effect. Bad
 * input fails validation before the claim, so it claims nothing. Without the header nothing
 * changes.
 */
export function idempotentPosts(app: FastifyInstance, ctx: CaContext): void {
  const claims = new WeakMap<FastifyRequest, Claim>();
  const aad = (claim: Claim) => `idempotency:${claim.scope}:${claim.key}`;

  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    const key = request.headers['idempotency-key'];
    if (key === undefined) return;
    if (typeof key !== 'string' || !KEY_FORMAT.test(key)) throw new IdempotencyKeyInvalidError();
    const { principal, tenantId } = request.admin;
    const scope = JSON.stringify([
      tenantId ?? '*',
      principal.keyId,
      principal.actor?.id ?? null,
      `${request.method} ${request.url}`,
    ]);
    const bodyHash = createHash('sha256').update(canonical(request.body)).digest('hex');
    const now = ctx.clock.now();
    const claim = { scope, key, claimedAt: new Date(now).toISOString() };
    const found = await ctx.store.transaction(async () => {
      const { db } = ctx.store;
      await db
        .prepare('DELETE FROM idempotency_keys WHERE expires_at <= ?')
        .run(new Date(now).toISOString());
      const row = (await db
        .prepare(
          'SELECT body_hash, status, response, created_at FROM idempotency_keys WHERE scope = ? AND idempotency_key = ?',
        )
        .get(scope, key)) as KeyRow | undefined;
      const abandoned =
        row !== undefined &&
        row.status === null &&
        now - Date.parse(row.created_at) >= IDEMPOTENCY_CLAIM_SECONDS * 1000;
      if (row === undefined || abandoned) {
        await db
          .prepare(
            `INSERT INTO idempotency_keys (scope, idempotency_key, body_hash, status, response, created_at, expires_at)
           VALUES (?, ?, ?, NULL, NULL, ?, ?)
           ON CONFLICT (scope, idempotency_key) DO UPDATE SET body_hash = excluded.body_hash,
             created_at = excluded.created_at, expires_at = excluded.expires_at`,
          )
          .run(
            scope,
            key,
            bodyHash,
            claim.claimedAt,
            new Date(now + IDEMPOTENCY_TTL_SECONDS * 1000).toISOString(),
          );
        return undefined;
      }
      return row;
    });
    if (found === undefined) {
      claims.set(request, claim);
      return;
    }
    if (found.body_hash !== bodyHash) throw new IdempotencyKeyReusedError();
    if (found.status === null || found.response === null) {
      throw new IdempotencyKeyInProgressError();
    }
    const answer = JSON.parse(
      ctx.secretBox.open(found.response, aad(claim)).toString('utf8'),
    ) as StoredAnswer;
    if (answer.contentType !== undefined) reply.header('content-type', answer.contentType);
    return reply
      .code(found.status)
      .header('idempotency-replayed', 'true')
      .header('cache-control', 'no-store')
      .send(answer.body);
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const claim = claims.get(request);
    if (claim === undefined) return payload;
    claims.delete(request);
    const { db } = ctx.store;
    // A 5xx is no answer to keep (a retry may succeed), nor is a body that is not text. Only
    // this request's own claim is touched: one that stalled past IDEMPOTENCY_CLAIM_SECONDS was
    // taken over, and the answer kept is the one of the request that took it.
    if (reply.statusCode >= 500 || typeof payload !== 'string') {
      await db
        .prepare(
          'DELETE FROM idempotency_keys WHERE scope = ? AND idempotency_key = ? AND created_at = ? AND status IS NULL',
        )
        .run(claim.scope, claim.key, claim.claimedAt);
      return payload;
    }
    const contentType = reply.getHeader('content-type');
    const answer: StoredAnswer = {
      contentType: typeof contentType === 'string' ? contentType : undefined,
      body: payload,
    };
    const sealed = ctx.secretBox.seal(Buffer.from(JSON.stringify(answer), 'utf8'), aad(claim));
    await db
      .prepare(
        `UPDATE idempotency_keys SET status = ?, response = ?
       WHERE scope = ? AND idempotency_key = ? AND created_at = ? AND status IS NULL`,
      )
      .run(reply.statusCode, sealed, claim.scope, claim.key, claim.claimedAt);
    return payload;
  });
}
