import { createHash, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/encoding/canonical-json.js';

/** The implementation every stored event hash was made with before the faster one. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => reference(item)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${reference(item)}`).join(',')}}`;
}

// Lone surrogates, control characters and U+2028 too: strings are quoted without
// `JSON.stringify` unless they hold something it escapes.
const ALPHABET = [
  'a',
  'b',
  'Z',
  '_',
  'é',
  'ß',
  '\u{1F600}',
  '\uFB01',
  '"',
  '\\',
  '\n',
  '0',
  '\uD800',
  '\uDFFF',
  '\u0001',
  '\u001F',
  '\u007F',
  '\u2028',
];

function randomKey(): string {
  let key = '';
  for (let i = randomInt(0, 5); i >= 0; i -= 1) key += ALPHABET[randomInt(ALPHABET.length)];
  return key;
}

function randomValue(depth: number): unknown {
  switch (depth > 2 ? randomInt(5) : randomInt(8)) {
    case 0:
      return null;
    case 1:
      return randomInt(-1e6, 1e6) / 7;
    case 2:
      return randomKey();
    case 3:
      return randomInt(2) === 0;
    case 4:
      return undefined;
    case 5:
      return Array.from({ length: randomInt(4) }, () => randomValue(depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      // Up to 40 keys: both the small-object path and the large one.
      for (let i = randomInt(randomInt(2) === 0 ? 8 : 40); i > 0; i -= 1) {
        object[randomKey()] = randomValue(depth + 1);
      }
      return object;
    }
  }
}

describe('canonicalJson', () => {
  it('orders keys by UTF-16 code units, not code points or locale, and drops undefined', () => {
    expect(canonicalJson({ '\uFB01': 1, '\u{1F600}': 2, z: 3, é: 4, Z: 5, u: undefined })).toBe(
      '{"Z":5,"z":3,"é":4,"😀":2,"ﬁ":1}',
    );
    expect(canonicalJson({ b: [undefined, { d: 1, c: undefined }], a: {} })).toBe(
      '{"a":{},"b":[null,{"d":1}]}',
    );
  });

  it('writes the same bytes whatever order the keys were inserted in', () => {
    expect(canonicalJson({ b: 1, a: { y: 2, x: 1 } })).toBe(
      canonicalJson({ a: { x: 1, y: 2 }, b: 1 }),
    );
  });

  it('writes exactly what the implementation the stored hashes were made with wrote', () => {
    for (let i = 0; i < 2000; i += 1) {
      const value = randomValue(0);
      expect(canonicalJson(value)).toBe(reference(value));
    }
  });

  it('still yields the hash an event recorded before the change was chained with', () => {
    const event = {
      position: 1,
      eventId: 'evt_01KBN3ZJ5N9W3QFQ7T6V0M2XYZ',
      eventType: 'identity.user.logged_in',
      eventVersion: 1,
      aggregateType: 'user',
      aggregateId: 'usr_01KBN3ZJ5N9W3QFQ7T6V0M2XYZ',
      aggregateVersion: 3,
      occurredAt: '2026-11-23T10:00:00.000Z',
      recordedAt: '2026-11-23T10:00:01.000Z',
      tenantId: 'ten_01KBN3ZJ5N9W3QFQ7T6V0M2XYZ',
      actor: { type: 'device', id: 'dev_01KBN3ZJ5N9W3QFQ7T6V0M2XYZ' },
      correlationId: 'evt_01KBN3ZJ5N9W3QFQ7T6V0M2XYZ',
      causationId: undefined,
      partitionKey: 'usr_01KBN3ZJ5N9W3QFQ7T6V0M2XYZ',
      payload: {
        userId: 'usr_01KBN3ZJ5N9W3QFQ7T6V0M2XYZ',
        sessionId: 'ses_01KBN3ZJ5N9W3QFQ7T6V0M2XYZ',
        offline: true,
        deviceId: 'dev_01KBN3ZJ5N9W3QFQ7T6V0M2XYZ',
        amr: ['pwd', 'otp'],
        note: 'é ☃ \u{1F600} "q"\n',
      },
    };
    // Computed with the implementation in `reference`, at the commit before this one.
    expect(
      createHash('sha256').update('0'.repeat(64)).update(canonicalJson(event)).digest('hex'),
    ).toBe('a5f09c41ed0671d971b16e06cd0e30f70ae9329a2073f2504a16062fc7b84df4');
  });
});
