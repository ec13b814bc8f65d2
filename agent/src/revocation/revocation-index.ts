import type { Database, Statement } from 'better-sqlite3';

/** The kinds of the agent's `revocations` table. */
export type RevokedKind = 'device' | 'certificate' | 'user' | 'session' | 'grant' | 'key';

export interface RevocationIndexOptions {
  /**
   * The exact answer for a subject whose fingerprint is in the index. Without it a fingerprint
   * match counts as revoked, which errs on the safe side (probability about n / 2^63 per query).
   */
  confirm?: (kind: RevokedKind, subjectId: string) => boolean;
  /** Sizes the table up front for this many entries (it still grows past them). */
  expectedEntries?: number;
  /**
   * Test seam: keep only this many bits of each fingerprint (2..64) so that distinct subjects
   * share fingerprints and the exact check can be seen doing its job.
   */
  fingerprintBits?: number;
}

const KIND_SEED: Record<RevokedKind, number> = {
  device: 0x3c6ef372,
  certificate: 0xa54ff53a,
  user: 0x510e527f,
  session: 0x9b05688c,
  grant: 0x1f83d9ab,
  key: 0x5be0cd19,
};
const MAX_LOAD = 0.75;
const MIN_SLOTS = 1024;

// Results of `fingerprint`, kept here so the hot path allocates nothing.
let hashHi = 0;
let hashLo = 0;

/**
 * Two independent 32-bit hashes of the subject id, seeded by its kind, over two UTF-16 units at
 * a time: a Murmur3-style lane and an xxHash32-style lane, each with its own finaliser. Ids are
 * ASCII (ULIDs, hex serials, base64url thumbprints), but any string hashes correctly.
 */
function fingerprint(seed: number, id: string): void {
  let h1 = seed ^ id.length;
  let h2 = Math.imul(seed, 0x9e3779b1) + id.length;
  const pairs = id.length & ~1;
  let i = 0;
  for (; i < pairs; i += 2) {
    const unit = id.charCodeAt(i) | (id.charCodeAt(i + 1) << 16);
    let k = Math.imul(unit, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h1 ^= k;
    h1 = (Math.imul((h1 << 13) | (h1 >>> 19), 5) + 0xe6546b64) | 0;
    h2 = (h2 + Math.imul(unit, 0x85ebca77)) | 0;
    h2 = Math.imul((h2 << 13) | (h2 >>> 19), 0x9e3779b1);
  }
  if (i < id.length) {
    const unit = id.charCodeAt(i);
    let k = Math.imul(unit, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h1 ^= k;
    h2 = Math.imul((h2 + Math.imul(unit, 0x165667b1)) | 0, 0x27d4eb2f);
  }
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h1 = Math.imul(h1, 0xc2b2ae35);
  h1 ^= h1 >>> 16;
  h2 ^= h2 >>> 15;
  h2 = Math.imul(h2, 0x85ebca77);
  h2 ^= h2 >>> 13;
  h2 = Math.imul(h2, 0xc2b2ae3d);
  h2 ^= h2 >>> 16;
  hashHi = h1 >>> 0;
  hashLo = h2 >>> 0;
}

/**
 * The hot-path view of the `revocations` table: an open-addressing hash table (linear probing)
 * of 64-bit fingerprints of (kind, subject id), two words per slot in one Uint32Array, so a
 * million revocations take 16 MiB and a lookup touches one or two cache lines.
 *
 * No false negatives: every revoked subject's fingerprint is in the table (the table only grows;
 * a revocation is never lifted). A subject that is not revoked can share a fingerprint with one
 * that is; `has` then asks `confirm` (for `fromDatabase`, a primary-key lookup in SQLite), so
 * its answer is exact, and that lookup is only paid on a match, i.e. for revoked subjects.
 *
 * Whoever writes the table must also `add` what it wrote (after the commit), or rebuild the
 * index; pruning rows only makes `has` fall back to the exact answer for them.
 */
export class RevocationIndex {
  private slots: Uint32Array;
  private mask: number;
  private entries = 0;
  private readonly confirm: RevocationIndexOptions['confirm'];
  private readonly hiMask: number;
  private readonly loMask: number;
  private readonly reduced: boolean;

  constructor(options: RevocationIndexOptions = {}) {
    const bits = options.fingerprintBits ?? 64;
    if (!Number.isInteger(bits) || bits < 2 || bits > 64) {
      throw new RangeError('fingerprintBits is an integer from 2 to 64');
    }
    this.hiMask = bits >= 64 ? 0xffffffff : bits <= 32 ? 0 : (2 ** (bits - 32) - 1) >>> 0;
    this.loMask = bits >= 32 ? 0xffffffff : (2 ** bits - 1) >>> 0;
    this.reduced = bits < 64;
    this.confirm = options.confirm;
    const capacity = slotsFor(options.expectedEntries ?? 0);
    this.slots = new Uint32Array(capacity * 2);
    this.mask = capacity - 1;
  }

  /** Builds the index from the agent's `revocations` table; `has` confirms matches there. */
  static fromDatabase(
    db: Database,
    options: Omit<RevocationIndexOptions, 'confirm' | 'expectedEntries'> = {},
  ): RevocationIndex {
    const exact: Statement<[string, string], unknown> = db.prepare<[string, string], unknown>(
      'SELECT 1 FROM revocations WHERE kind = ? AND subject_id = ?',
    );
    const { n } = db.prepare('SELECT COUNT(*) AS n FROM revocations').get() as { n: number };
    const index = new RevocationIndex({
      ...options,
      expectedEntries: n,
      confirm: (kind, subjectId) => exact.get(kind, subjectId) !== undefined,
    });
    const rows = db
      .prepare<[], [RevokedKind, string]>('SELECT kind, subject_id FROM revocations')
      .raw()
      .iterate();
    for (const [kind, subjectId] of rows) index.add(kind, subjectId);
    return index;
  }

  /** Distinct fingerprints held (equal to the number of subjects unless two collide). */
  get size(): number {
    return this.entries;
  }

  /** Memory held by the table. */
  get byteLength(): number {
    return this.slots.byteLength;
  }

  add(kind: RevokedKind, subjectId: string): void {
    this.hash(kind, subjectId);
    const hi = hashHi;
    const lo = hashLo;
    const slots = this.slots;
    let slot = hi & this.mask;
    for (;;) {
      const at = slot << 1;
      const storedLo = slots[at + 1] as number;
      if (storedLo === 0) break;
      if (storedLo === lo && slots[at] === hi) return;
      slot = (slot + 1) & this.mask;
    }
    slots[slot << 1] = hi;
    slots[(slot << 1) + 1] = lo;
    this.entries += 1;
    if (this.entries > (this.mask + 1) * MAX_LOAD) this.grow();
  }

  /** True when the subject is revoked. Exact when the index was given `confirm`. */
  has(kind: RevokedKind, subjectId: string): boolean {
    if (!this.mightHave(kind, subjectId)) return false;
    return this.confirm === undefined ? true : this.confirm(kind, subjectId);
  }

  /** The index alone: false means not revoked; true means revoked or a fingerprint collision. */
  mightHave(kind: RevokedKind, subjectId: string): boolean {
    this.hash(kind, subjectId);
    const hi = hashHi;
    const lo = hashLo;
    const slots = this.slots;
    const mask = this.mask;
    let slot = hi & mask;
    for (;;) {
      const at = slot << 1;
      const storedLo = slots[at + 1] as number;
      if (storedLo === lo && slots[at] === hi) return true;
      if (storedLo === 0) return false;
      slot = (slot + 1) & mask;
    }
  }

  private hash(kind: RevokedKind, subjectId: string): void {
    const seed: number | undefined = KIND_SEED[kind];
    if (seed === undefined) throw new TypeError(`unknown revocation kind ${String(kind)}`);
    fingerprint(seed, subjectId);
    if (this.reduced) {
      hashHi = (hashHi & this.hiMask) >>> 0;
      hashLo = (hashLo & this.loMask) >>> 0;
    }
    // Zero marks an empty slot.
    if (hashLo === 0) hashLo = 1;
  }

  private grow(): void {
    const old = this.slots;
    const capacity = (this.mask + 1) * 2;
    this.slots = new Uint32Array(capacity * 2);
    this.mask = capacity - 1;
    for (let at = 0; at < old.length; at += 2) {
      const lo = old[at + 1] as number;
      if (lo === 0) continue;
      const hi = old[at] as number;
      let slot = hi & this.mask;
      while (this.slots[(slot << 1) + 1] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot << 1] = hi;
      this.slots[(slot << 1) + 1] = lo;
    }
  }
}

function slotsFor(entries: number): number {
  let capacity = MIN_SLOTS;
  while (entries > capacity * MAX_LOAD) capacity *= 2;
  return capacity;
}
