import type { RevocationEntry } from '@lantern/shared';
import { unverifiedClaims, unverifiedHeader } from '@lantern/shared';
import type { AgentStore } from '../store/agent-store.js';

/**
 * A feed entry from a verified page, as enforcement reads it: `serial` lower-case hex,
 * `revokedAt` in epoch ms (CA time).
 */
export type VerifiedRevocation = Omit<RevocationEntry, 'revokedAt'> & { revokedAt: number };

export interface EnforcementContext {
  /** This device: a `device` entry naming it wipes the sign-in state. */
  deviceId: string;
  /** Trusted time, for `ended_at` and `received_at`. */
  now: number;
}

/** A row written to `revocations`: what an in-memory index of them has to add. */
export interface RecordedRevocation {
  kind: string;
  subjectId: string;
}

export interface EnforcementOutcome {
  /** Feed entries recorded in `revocations` (a device entry with a serial writes two rows). */
  recorded: number;
  /** Entries of a kind this agent does not know: skipped, so a newer CA cannot stall the feed. */
  ignored: number;
  /** Every row written, the certificate rows of device entries included. */
  rows: RecordedRevocation[];
  sessionsEnded: number;
  grantsDropped: number;
  /** Set when this batch revoked this device; its sign-in state was wiped in the same transaction. */
  deviceRevoked: { revokedAt: number; reason: string } | null;
}

/** The kinds the `revocations` table accepts (its CHECK constraint). */
const STORED_KINDS = new Set(['device', 'user', 'session', 'grant', 'key', 'certificate']);

/** Reasons of the event catalogue that `sessions.end_reason` records. */
const USER_END_REASON: Record<string, string> = {
  user_deleted: 'user_deleted',
  user_locked: 'user_locked',
};

/**
 * docs/architecture.md §5 enforcement on reconnect, for a batch of verified feed entries, in the caller's
 * transaction (the sync round's, together with the cursor), so a crash applies all or none:
 *
 * - every entry is recorded in `revocations`, which sign-in and token verification consult, so
 *   nothing revoked signs anyone in once this commits (invariant 1);
 * - `user`: the user's sessions started up to `revokedAt`, or under a grant issued up to it,
 *   end, and those grants are dropped (the same instant counts as revoked, as in sign-in); a
 *   later online sign-in brings a new grant;
 * - `grant`: the grant is dropped and the sessions minted under it end;
 * - `session`: the session ends;
 * - `device` naming this device: grants, verifiers, passkeys and sessions are deleted and the binding is
 *   marked revoked. The keys are shredded by the caller after the commit (`shredDeviceKeys`),
 *   once the outbox is handed over.
 *
 * Entries are idempotent: applying a batch twice changes nothing the second time.
 */
export function enforceRevocations(
  store: AgentStore,
  entries: readonly VerifiedRevocation[],
  context: EnforcementContext,
): EnforcementOutcome {
  return store.transaction(() => {
    const apply = new Enforcer(store, context);
    for (const entry of entries) apply.entry(entry);
    return apply.outcome();
  });
}

/**
 * The grants signed by a key the device's key set no longer holds verify nothing any more: they
 * are dropped and the sessions opened under them end (`grant_revoked`), in the caller's
 * transaction, as for a revoked grant. A session token names its grant, not the grant's key, so
 * without this a session opened under a revoked key would outlive the key.
 */
export function dropGrantsOfWithdrawnKeys(
  store: AgentStore,
  keys: ReadonlyMap<string, unknown>,
  context: EnforcementContext,
): { grantsDropped: number; sessionsEnded: number } {
  return new Enforcer(store, context).withdrawnKeys(keys);
}

class Enforcer {
  private recorded = 0;
  private ignored = 0;
  private readonly rows: RecordedRevocation[] = [];
  private sessionsEnded = 0;
  private grantsDropped = 0;
  private deviceRevoked: EnforcementOutcome['deviceRevoked'] = null;

  constructor(
    private readonly store: AgentStore,
    private readonly context: EnforcementContext,
  ) {}

  entry(entry: VerifiedRevocation): void {
    if (!STORED_KINDS.has(entry.kind)) {
      this.ignored += 1;
      return;
    }
    this.recorded += 1;
    this.record(entry.kind, entry.id, entry);
    // The certificate row lets a verifier that only sees a token's x5c refuse it too.
    if (entry.kind === 'device' && entry.serial !== undefined) {
      this.record('certificate', entry.serial, entry);
    }
    switch (entry.kind) {
      case 'user':
        this.revokeUser(entry);
        break;
      case 'grant':
        this.grantsDropped += this.dropGrants([entry.id]);
        this.sessionsEnded += this.endSessions(
          'grant_id = ? AND ended_at IS NULL',
          [entry.id],
          'grant_revoked',
        );
        break;
      case 'session':
        this.sessionsEnded += this.endSessions(
          'session_id = ? AND ended_at IS NULL',
          [entry.id],
          entry.reason,
        );
        break;
      case 'device':
        if (entry.id === this.context.deviceId) this.revokeThisDevice(entry);
        break;
    }
  }

  withdrawnKeys(keys: ReadonlyMap<string, unknown>): {
    grantsDropped: number;
    sessionsEnded: number;
  } {
    const grants = this.store.db
      .prepare<[], { grantId: string; jws: string }>(
        'SELECT grant_id AS grantId, grant_jws AS jws FROM grants',
      )
      .all()
      .filter((grant) => !keys.has(String(unverifiedHeader(grant.jws)?.['kid'] ?? '')))
      .map((grant) => grant.grantId);
    if (grants.length === 0) return { grantsDropped: 0, sessionsEnded: 0 };
    const sessionsEnded = this.endSessions(
      `ended_at IS NULL AND grant_id IN (${grants.map(() => '?').join(', ')})`,
      grants,
      'grant_revoked',
    );
    return { grantsDropped: this.dropGrants(grants), sessionsEnded };
  }

  outcome(): EnforcementOutcome {
    return {
      recorded: this.recorded,
      ignored: this.ignored,
      rows: this.rows,
      sessionsEnded: this.sessionsEnded,
      grantsDropped: this.grantsDropped,
      deviceRevoked: this.deviceRevoked,
    };
  }

  /** A subject revoked twice keeps the later time: a user revocation covers more the later it is. */
  private record(kind: string, subjectId: string, entry: VerifiedRevocation): void {
    this.store.db
      .prepare<[string, string, number, string, number, number]>(
        `INSERT INTO revocations (kind, subject_id, revoked_at, reason, feed_seq, received_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (kind, subject_id) DO UPDATE SET
           reason = CASE WHEN excluded.revoked_at >= revoked_at THEN excluded.reason ELSE reason END,
           revoked_at = max(revoked_at, excluded.revoked_at),
           feed_seq = max(coalesce(feed_seq, 0), excluded.feed_seq),
           received_at = excluded.received_at`,
      )
      .run(kind, subjectId, entry.revokedAt, entry.reason, entry.seq, this.context.now);
    this.rows.push({ kind, subjectId });
  }

  private revokeUser(entry: VerifiedRevocation): void {
    const grants = this.store.db
      .prepare<[string], { grantId: string; jws: string; receivedAt: number }>(
        'SELECT grant_id AS grantId, grant_jws AS jws, received_at AS receivedAt FROM grants WHERE user_id = ?',
      )
      .all(entry.id)
      .filter((grant) => issuedAt(grant.jws, grant.receivedAt) <= entry.revokedAt)
      .map((grant) => grant.grantId);
    const reason = USER_END_REASON[entry.reason] ?? 'user_revoked';
    // A session started after the revocation under a grant issued before it was never valid.
    const underDropped =
      grants.length === 0 ? '' : ` OR grant_id IN (${grants.map(() => '?').join(', ')})`;
    this.sessionsEnded += this.endSessions(
      `user_id = ? AND ended_at IS NULL AND (created_at <= ?${underDropped})`,
      [entry.id, entry.revokedAt, ...grants],
      reason,
    );
    this.grantsDropped += this.dropGrants(grants);
  }

  private revokeThisDevice(entry: VerifiedRevocation): void {
    const { db } = this.store;
    this.grantsDropped += db.prepare('DELETE FROM grants').run().changes;
    this.sessionsEnded += db.prepare('DELETE FROM sessions').run().changes;
    db.prepare('DELETE FROM verifiers').run();
    db.prepare('DELETE FROM passkeys').run();
    // The first revocation is the one that counts; a repeated entry does not move it.
    db.prepare<[number, string]>(
      'UPDATE binding SET revoked_at = ?, revoke_reason = ? WHERE id = 1 AND revoked_at IS NULL',
    ).run(entry.revokedAt, entry.reason);
    this.deviceRevoked = { revokedAt: entry.revokedAt, reason: entry.reason };
  }

  /**
   * A TOTP secret came sealed beside a grant: once the user has no grant left it goes too,
   * rather than waiting on this device for the next online sign-in.
   */
  private dropGrants(grantIds: readonly string[]): number {
    const { db } = this.store;
    const drop = db.prepare<[string], { userId: string }>(
      'DELETE FROM grants WHERE grant_id = ? RETURNING user_id AS userId',
    );
    const dropped = grantIds.flatMap((grantId) => drop.all(grantId).map((row) => row.userId));
    const dropTotp = db.prepare<[string, string]>(
      `DELETE FROM verifiers WHERE user_id = ? AND kind = 'totp'
       AND NOT EXISTS (SELECT 1 FROM grants WHERE user_id = ?)`,
    );
    for (const userId of new Set(dropped)) dropTotp.run(userId, userId);
    return dropped.length;
  }

  private endSessions(where: string, parameters: readonly unknown[], reason: string): number {
    return this.store.db
      .prepare(
        `UPDATE sessions SET ended_at = ?, end_reason = ?, refresh_sealed = NULL WHERE ${where}`,
      )
      .run(this.context.now, reason, ...parameters).changes;
  }
}

/**
 * When the CA issued a grant: its `iat`, in CA time like `revokedAt`, the same instant sign-in
 * compares a user revocation with. The row holds the JWS as received and verified; only a row
 * that no longer parses falls back to its receipt time.
 */
function issuedAt(jws: string, receivedAt: number): number {
  const iat = unverifiedClaims(jws)?.['iat'];
  return typeof iat === 'number' && Number.isFinite(iat) ? iat * 1000 : receivedAt;
}
