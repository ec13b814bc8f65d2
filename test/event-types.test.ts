import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { EventDefinition } from '@lantern/shared';
import { EVENT_CATALOGUE, object } from '@lantern/shared';
import { EVENT_TYPES_FILE, renderEventPayloadTypes } from '../scripts/event-types.js';

const entry = (payload: EventDefinition['payload']): EventDefinition => ({
  type: 'test.thing.happened',
  version: 3,
  aggregate: 'thing',
  direction: 'produced',
  payload,
  example: {},
  producers: [],
  consumers: [],
});

describe('shared/src/events/payloads.generated.ts', () => {
  it('refuses a schema it cannot type rather than typing it loosely', async () => {
    await expect(
      renderEventPayloadTypes([entry({ type: 'object', properties: {} })]),
    ).rejects.toThrow('only strict objects');
    await expect(
      renderEventPayloadTypes([entry(object({ at: { type: 'string', oneOf: [] }, n: {} }))]),
    ).rejects.toThrow('TestThingHappenedV3.n: no TypeScript type');
  });

  it('types required and optional fields, enums and arrays of a version', async () => {
    const text = await renderEventPayloadTypes([
      entry(
        object(
          {
            id: { type: 'string' },
            kinds: { type: 'array', items: { type: 'string', enum: ['a', 'b'] } },
            count: { type: 'integer' },
          },
          ['id'],
        ),
      ),
    ]);
    expect(text).toContain(
      "export type TestThingHappenedV3 = { id: string; kinds?: ('a' | 'b')[]; count?: number };",
    );
    expect(text).toContain("'test.thing.happened': { 3: TestThingHappenedV3 };");
  });

  it('is exactly what the catalogue generates (run `npm run gen:event-types` after changing it)', async () => {
    expect(readFileSync(EVENT_TYPES_FILE, 'utf8')).toBe(
      await renderEventPayloadTypes(EVENT_CATALOGUE),
    );
  });
});
