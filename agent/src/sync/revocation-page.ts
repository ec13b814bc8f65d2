import type { RevocationEntry, RevocationPageClaims, UncheckedClaims } from '@lantern/shared';
import type { VerifiedRevocation } from '../enforcement/enforce-revocations.js';

/** A revocation page whose signature checked out and whose claims fit this device's feed. */
export interface RevocationPage {
  after: number;
  next: number;
  more: boolean;
  entries: VerifiedRevocation[];
}

export type RevocationPageVerdict =
  | { ok: true; page: RevocationPage }
  | {
      ok: false;
      /** `wrong_tenant` and `wrong_cursor` are pages of another feed or another place in it. */
      reason: 'wrong_tenant' | 'wrong_cursor' | 'malformed';
      detail: string;
    };

export interface RevocationPageExpectation {
  tenantId: string;
  /** The cursor the page was asked for. */
  after: number;
}

const MAX_ID = 200;
const MAX_REASON = 64;
const SERIAL = /^[0-9a-fA-F]{1,80}$/;

/**
 * The claims of a verified page (docs/architecture.md §5). Applying a page of another tenant would revoke
 * strangers or nobody; a page for another cursor would skip entries or move the cursor back.
 * Entries must lie in (after, next], strictly ascending, so the cursor advanced to `next`
 * covers exactly what was applied.
 */
export function checkRevocationPage(
  claims: UncheckedClaims<RevocationPageClaims>,
  expected: RevocationPageExpectation,
): RevocationPageVerdict {
  if (claims.typ !== 'revocations') return malformed('typ is not revocations');
  if (claims.tenantId !== expected.tenantId) {
    return { ok: false, reason: 'wrong_tenant', detail: 'the page is of another tenant' };
  }
  const { after, next, more, entries } = claims;
  if (after !== expected.after) {
    return {
      ok: false,
      reason: 'wrong_cursor',
      detail: `the page starts after ${String(after)}, not after ${expected.after}`,
    };
  }
  if (!isCount(next) || next < expected.after) return malformed('next is before after');
  if (typeof more !== 'boolean') return malformed('more is not a boolean');
  if (!Array.isArray(entries)) return malformed('entries is not an array');
  const parsed: VerifiedRevocation[] = [];
  let previous = expected.after;
  for (const item of entries) {
    const entry = entryOf(item);
    if (entry === null) return malformed('an entry is malformed');
    if (entry.seq <= previous || entry.seq > next) {
      return malformed('entries are not ascending within (after, next]');
    }
    previous = entry.seq;
    parsed.push(entry);
  }
  if (previous !== next) return malformed('next is not the last entry');
  // Otherwise a client that follows `more` would ask for the same page forever.
  if (more && parsed.length === 0) return malformed('more is set on an empty page');
  return { ok: true, page: { after: expected.after, next, more, entries: parsed } };
}

function entryOf(item: unknown): VerifiedRevocation | null {
  if (typeof item !== 'object' || item === null) return null;
  const { seq, kind, id, serial, revokedAt, reason } = item as UncheckedClaims<RevocationEntry>;
  if (!isCount(seq) || seq < 1) return null;
  if (typeof kind !== 'string' || typeof id !== 'string' || id.length === 0) return null;
  if (id.length > MAX_ID) return null;
  if (typeof reason !== 'string' || reason.length === 0 || reason.length > MAX_REASON) return null;
  if (serial !== undefined && (typeof serial !== 'string' || !SERIAL.test(serial))) return null;
  const at = typeof revokedAt === 'string' ? Date.parse(revokedAt) : NaN;
  if (!Number.isSafeInteger(at) || at < 0) return null;
  return {
    seq,
    kind,
    id,
    ...(serial === undefined ? {} : { serial: (serial as string).toLowerCase() }),
    revokedAt: at,
    reason,
  };
}

function malformed(detail: string): RevocationPageVerdict {
  return { ok: false, reason: 'malformed', detail };
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
