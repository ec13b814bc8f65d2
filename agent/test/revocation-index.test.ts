import { join } from 'node:path';
import fc from 'fast-check';
import { createIdGenerator, manualClock } from '@lantern/shared';
import { describe, expect, it } from 'vitest';
import type { RevokedKind } from '../src/revocation/revocation-index.js';
import { RevocationIndex } from '../src/revocation/revocation-index.js';
import type { AgentStore } from '../src/store/agent-store.js';
import { openAgentStore } from '../src/store/agent-store.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const clock = manualClock(Date.UTC(2026, 10, 23, 10));
const ids = createIdGenerator(clock);
const KINDS: readonly RevokedKind[] = ['device', 'certificate', 'user', 'session', 'grant', 'key'];
const PREFIX = { device: 'dev', user: 'usr', session: 'ses', grant: 'grt' } as const;

function store(): AgentStore {
  return openAgentStore(join(tempDir(), 'agent.db'), { clock });
}

function revoke(target: AgentStore, entries: readonly (readonly [RevokedKind, string])[]): void {
  const insert = target.db.prepare(
    "INSERT OR IGNORE INTO revocations (kind, subject_id, revoked_at, reason, received_at) VALUES (?, ?, 0, 'test', 0)",
  );
  target.transaction(() => {
    for (const [kind, id] of entries) insert.run(kind, id);
  });
}

let made = 0;

/** Distinct subjects on every call, of every kind, shaped like the real ids. */
function subjects(count: number): [RevokedKind, string][] {
  return Array.from({ length: count }, (_, i) => {
    const kind = KINDS[i % KINDS.length] as RevokedKind;
    made += 1;
    const id =
      kind === 'certificate'
        ? made.toString(16).padStart(32, '0')
        : kind === 'key'
          ? `kid-${made}-${'x'.repeat(i % 40)}`
          : ids.next(PREFIX[kind]);
    return [kind, id];
  });
}

describe('RevocationIndex', () => {
  it('knows every revoked subject in the table and nothing else', () => {
    const target = store();
    const revoked = subjects(5000);
    revoke(target, revoked);
    const index = RevocationIndex.fromDatabase(target.db);
    expect(index.size).toBe(5000);
    for (const [kind, id] of revoked) expect(index.has(kind, id)).toBe(true);
    for (const [kind, id] of subjects(5000)) expect(index.has(kind, id)).toBe(false);
    // The same id under another kind is another subject.
    const [kind, id] = revoked[0] as [RevokedKind, string];
    expect(index.has(kind === 'user' ? 'session' : 'user', id)).toBe(false);
    target.close();
  });

  it('stays exact when fingerprints collide: matches are confirmed in SQLite', () => {
    const target = store();
    const revoked = subjects(3000);
    revoke(target, revoked);
    // 10-bit fingerprints: 3000 subjects share at most 1024 values, so most lookups collide.
    const index = RevocationIndex.fromDatabase(target.db, { fingerprintBits: 10 });
    expect(index.size).toBeLessThanOrEqual(1024);
    const others = subjects(3000);
    expect(others.filter(([kind, id]) => index.mightHave(kind, id)).length).toBeGreaterThan(1000);
    for (const [kind, id] of revoked) expect(index.has(kind, id)).toBe(true);
    for (const [kind, id] of others) expect(index.has(kind, id)).toBe(false);
    target.close();
  });

  it('without an exact check, a collision errs towards revoked, never the other way', () => {
    const index = new RevocationIndex({ fingerprintBits: 4 });
    const revoked = subjects(200);
    for (const [kind, id] of revoked) index.add(kind, id);
    for (const [kind, id] of revoked) expect(index.has(kind, id)).toBe(true);
    expect(subjects(200).some(([kind, id]) => index.has(kind, id))).toBe(true);
  });

  it('grows past its initial size and keeps every entry', () => {
    const index = new RevocationIndex();
    const start = index.byteLength;
    const revoked = subjects(20_000);
    for (const [kind, id] of revoked) index.add(kind, id);
    for (const [kind, id] of revoked) index.add(kind, id);
    expect(index.size).toBe(20_000);
    expect(index.byteLength).toBeGreaterThan(start);
    for (const [kind, id] of revoked) expect(index.mightHave(kind, id)).toBe(true);
    expect(subjects(20_000).filter(([kind, id]) => index.mightHave(kind, id))).toEqual([]);
  });

  it('takes 8 bytes a slot: a million revocations fit in 16 MiB', () => {
    expect(new RevocationIndex({ expectedEntries: 1_000_000 }).byteLength).toBe(16 * 2 ** 20);
  });

  it('has no false negatives for arbitrary subject ids (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.constantFrom(...KINDS), fc.string({ maxLength: 64 })), {
          maxLength: 300,
          selector: ([kind, id]) => `${kind}\u0000${id}`,
        }),
        fc.array(fc.tuple(fc.constantFrom(...KINDS), fc.string({ maxLength: 64 })), {
          maxLength: 50,
        }),
        fc.integer({ min: 2, max: 64 }),
        (revoked, probes, bits) => {
          const exact = new Set(revoked.map(([kind, id]) => `${kind}\u0000${id}`));
          const index = new RevocationIndex({
            fingerprintBits: bits,
            confirm: (kind, id) => exact.has(`${kind}\u0000${id}`),
          });
          for (const [kind, id] of revoked) index.add(kind, id);
          for (const [kind, id] of revoked) {
            if (!index.mightHave(kind, id) || !index.has(kind, id)) return false;
          }
          return probes.every(
            ([kind, id]) => index.has(kind, id) === exact.has(`${kind}\u0000${id}`),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('learns revocations added after it was built', () => {
    const target = store();
    revoke(target, subjects(10));
    const index = RevocationIndex.fromDatabase(target.db);
    const late = ids.next('ses');
    expect(index.has('session', late)).toBe(false);
    revoke(target, [['session', late]]);
    index.add('session', late);
    expect(index.has('session', late)).toBe(true);
    target.close();
  });

  it('refuses a kind the table does not have', () => {
    expect(() => new RevocationIndex().has('tenant' as RevokedKind, 'x')).toThrow(TypeError);
  });
});
