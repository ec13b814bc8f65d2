import type { EventStore, RecordedEvent } from '../store/event-store.js';
import { GENESIS_HASH, eventHash } from '../store/event-store.js';

export interface ChainVerdict {
  ok: boolean;
  /** Events whose hash was recomputed. */
  checked: number;
  /** Last position and hash seen intact (the genesis hash and 0 for an empty store). */
  head: { position: number; hash: string };
  /** First position where the chain does not hold. */
  brokenAt?: number;
  reason?: string;
}

const BATCH = 1000;

/**
 * Walks the hash chain from the genesis hash: each row's hash must be SHA-256(previous stored
 * hash ‖ canonical JSON of the row). An edited row breaks at its own position; an edited row
 * whose hash was recomputed breaks at the next one; a deleted row leaves a gap in positions. The
 * last rows can be rewritten consistently by whoever holds the database, which is what signed
 * checkpoints are for.
 */
export async function verifyChain(
  store: EventStore,
  onProgress?: (done: number, total: number) => void,
): Promise<ChainVerdict> {
  const total = await store.headPosition();
  let previous = { position: 0, hash: GENESIS_HASH };
  let checked = 0;
  const broken = (brokenAt: number, reason: string): ChainVerdict => ({
    ok: false,
    checked,
    head: previous,
    brokenAt,
    reason,
  });
  for (;;) {
    const batch = await readBatch(store, previous.position);
    if ('unreadable' in batch)
      return broken(batch.unreadable, 'the row cannot be read (its payload is not JSON)');
    if (batch.events.length === 0) break;
    for (const event of batch.events) {
      const expected = previous.position + 1;
      if (event.position !== expected) return broken(expected, `position ${expected} is missing`);
      const { hash, ...content } = event;
      if (eventHash(previous.hash, content) !== hash) {
        return broken(
          event.position,
          'the stored hash does not match the row and the hash before it: this row, or the hash of the one before, was changed',
        );
      }
      previous = { position: event.position, hash };
      checked += 1;
    }
    onProgress?.(checked, total);
  }
  return { ok: true, checked, head: previous };
}

/** A batch, or the first position in it that does not parse. */
async function readBatch(
  store: EventStore,
  after: number,
): Promise<{ events: RecordedEvent[] } | { unreadable: number }> {
  try {
    return { events: await store.read({ after, limit: BATCH }) };
  } catch {
    for (let position = after + 1; ; position += 1) {
      try {
        if ((await store.read({ after: position - 1, limit: 1 })).length === 0)
          return { events: [] };
      } catch {
        return { unreadable: position };
      }
    }
  }
}
