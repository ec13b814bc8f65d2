import type { RevocationEntry, RevocationPageClaims } from '@lantern/shared';
import { REVOCATION_PAGE_TYP } from '@lantern/shared';
import type { SqlReader } from '../store/sql-database.js';
import type { CaContext } from '../context/ca-context.js';
import { caSignedJws } from '../pki/ca-signed-jws.js';
import { statement } from '../store/statements.js';

interface FeedRow {
  seq: number;
  kind: string;
  subject_id: string;
  serial: string | null;
  revoked_at: string;
  reason: string;
}

export const MAX_PAGE_SIZE = 1000;
const PAGE_LIFETIME_SECONDS = 7 * 86_400;

/** The seq of the tenant's newest revocation; 0 while its feed is empty. */
export async function revocationFeedHead(db: SqlReader, tenantId: string): Promise<number> {
  // The newest row by the primary key, not MAX(): a plan PostgreSQL cached while the feed was
  // short would otherwise read the whole feed once it is long.
  const row = (await statement(
    db,
    'SELECT seq AS head FROM revocation_feed WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1',
  ).get(tenantId)) as { head: number } | undefined;
  return row?.head ?? 0;
}

/**
 * A page of the tenant's feed after `after`, with the feed's head, read in one statement: one
 * snapshot on every engine, so no revocation committed meanwhile (by this instance or another)
 * can put an entry on the page beyond the head it is signed with.
 */
export async function readRevocations(
  ctx: Pick<CaContext, 'store'>,
  tenantId: string,
  after: number,
  limit: number,
) {
  const rows = (await statement(
    ctx.store.db,
    `SELECT head.seq AS head, feed.seq, feed.kind, feed.subject_id, feed.serial, feed.revoked_at, feed.reason
     FROM (SELECT COALESCE((SELECT seq FROM revocation_feed WHERE tenant_id = ? ORDER BY seq DESC LIMIT 1), 0) AS seq) AS head
     LEFT JOIN (SELECT * FROM revocation_feed WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?) AS feed ON 1 = 1
     ORDER BY feed.seq`,
  ).all(tenantId, tenantId, after, limit + 1)) as (Omit<FeedRow, 'seq'> & {
    head: number;
    seq: number | null;
  })[];
  const found = rows.filter((row): row is typeof row & { seq: number } => row.seq !== null);
  const entries = found.slice(0, limit).map((row): RevocationEntry => ({
    seq: row.seq,
    kind: row.kind,
    id: row.subject_id,
    ...(row.serial === null ? {} : { serial: row.serial }),
    revokedAt: row.revoked_at,
    reason: row.reason,
  }));
  return {
    entries,
    more: found.length > limit,
    next: entries.at(-1)?.seq ?? after,
    head: rows[0]?.head ?? 0,
  };
}

/**
 * A page of the tenant's revocation feed as a compact JWS signed by the issuing CA, with the
 * issuing certificate in `x5c`: an agent checks it against its pinned root, so a page can also
 * travel peer to peer or on removable media.
 */
export async function signedRevocationPage(
  ctx: Pick<CaContext, 'ca' | 'clock' | 'publicUrl' | 'store'>,
  tenantId: string,
  after: number,
  limit = 500,
): Promise<{ page: string; payload: RevocationPageClaims; head: number }> {
  const { entries, more, next, head } = await readRevocations(
    ctx,
    tenantId,
    after,
    Math.min(limit, MAX_PAGE_SIZE),
  );
  const payload: RevocationPageClaims = {
    iss: ctx.publicUrl,
    typ: 'revocations',
    tenantId,
    after,
    next,
    more,
    entries,
    iat: Math.floor(ctx.clock.now() / 1000),
    exp: Math.floor(ctx.clock.now() / 1000) + PAGE_LIFETIME_SECONDS,
  };
  const key = { issuingPem: ctx.ca.issuingPem, signer: ctx.ca.authority.signer };
  const page = await caSignedJws(key, REVOCATION_PAGE_TYP, payload);
  return { page, payload, head };
}
