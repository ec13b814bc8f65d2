import type { Statement } from 'better-sqlite3';
import type { AgentStore } from '../store/agent-store.js';

export type RevocationKind = 'device' | 'certificate' | 'user' | 'session' | 'grant' | 'key';

/** The subjects to look up; absent ones are not asked about. */
export type RevocationQuery = Partial<Record<RevocationKind, string>>;

/** `revoked_at` (epoch ms) of each subject of the query that the feed revoked. */
export type RevocationHits = Partial<Record<RevocationKind, number>>;

const KINDS: readonly RevocationKind[] = [
  'device',
  'certificate',
  'user',
  'session',
  'grant',
  'key',
];

/**
 * The cached revocation feed (docs/architecture.md §5) as sign-in and token verification read it: one indexed
 * query per check, whatever the number of subjects, because it sits on the verify hot path.
 */
export class RevocationState {
  private readonly statement: Statement<(string | null)[], { kind: RevocationKind; at: number }>;

  constructor(store: AgentStore) {
    this.statement = store.db.prepare<(string | null)[], { kind: RevocationKind; at: number }>(
      `SELECT kind, revoked_at AS at FROM revocations WHERE ${KINDS.map(
        (kind) => `(kind = '${kind}' AND subject_id = ?)`,
      ).join(' OR ')}`,
    );
  }

  find(query: RevocationQuery): RevocationHits {
    const hits: RevocationHits = {};
    for (const row of this.statement.all(...KINDS.map((kind) => query[kind] ?? null))) {
      hits[row.kind] = row.at;
    }
    return hits;
  }
}
