import { describe, expect, it } from 'vitest';
import { ID_PREFIXES, createIdGenerator, isId, manualClock, newId, parseId } from '@lantern/shared';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const randomnessOf = (id: string): bigint =>
  [...id.slice(-16)].reduce((acc, char) => acc * 32n + BigInt(CROCKFORD.indexOf(char)), 0n);

describe('ids', () => {
  it('round-trips every prefix and matches the seed pattern', () => {
    for (const prefix of ID_PREFIXES) {
      const id = newId(prefix);
      expect(id).toMatch(new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`));
      expect(isId(id, prefix)).toBe(true);
      expect(parseId(id)?.prefix).toBe(prefix);
    }
  });

  it('encodes the clock time and decodes it back', () => {
    const clock = manualClock(Date.UTC(2026, 10, 23, 10, 0, 0, 123));
    const id = createIdGenerator(clock).next('dev');
    expect(parseId(id)?.timestampMs).toBe(clock.now());
  });

  it('is monotonic within one millisecond and across a clock that steps back', () => {
    const clock = manualClock(1_700_000_000_000);
    const ids = createIdGenerator(clock);
    const burst = Array.from({ length: 1000 }, () => ids.next('evt'));
    clock.advance(-5000);
    burst.push(ids.next('evt'));
    expect([...burst].sort()).toEqual(burst);
    expect(new Set(burst).size).toBe(burst.length);
  });

  it('increments the randomness with carry rather than redrawing it', () => {
    const clock = manualClock(0);
    const ids = createIdGenerator(clock, (bytes) => bytes.fill(0xff).fill(0, 0, 1));
    const first = ids.next('usr');
    const second = ids.next('usr');
    expect(randomnessOf(second) - randomnessOf(first)).toBe(1n);
    expect(randomnessOf(first) & 0xffn).toBe(0xffn);
  });

  it.each([
    ['wrong prefix', 'abc_01J9Z3YQ8M6W4Q9V2K7T5R3N1B'],
    ['no separator', 'usr01J9Z3YQ8M6W4Q9V2K7T5R3N1B'],
    ['too short', 'usr_01J9Z3YQ8M6W4Q9V2K7T5R3N1'],
    ['too long', 'usr_01J9Z3YQ8M6W4Q9V2K7T5R3N1BB'],
    ['lowercase', 'usr_01j9z3yq8m6w4q9v2k7t5r3n1b'],
    ['excluded letter I', 'usr_01J9Z3YQ8M6W4Q9V2K7T5R3NIB'],
    ['excluded letter U', 'usr_01J9Z3YQ8M6W4Q9V2K7T5R3NUB'],
    ['overflowing time', 'usr_81J9Z3YQ8M6W4Q9V2K7T5R3N1B'],
    ['empty', ''],
  ])('rejects %s', (_label, value) => {
    expect(parseId(value)).toBeNull();
    expect(isId(value, 'usr')).toBe(false);
  });

  it('rejects an id of the wrong kind where a kind is expected', () => {
    expect(isId(newId('dev'), 'usr')).toBe(false);
    expect(isId(42, 'usr')).toBe(false);
  });
});
