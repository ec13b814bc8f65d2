import { EVENT_CATALOGUE } from '@lantern/shared';
import { describe, expect, it } from 'vitest';
import { PROJECTIONS } from '../src/data-dir/open-ca.js';
import type { ProjectedEvent, Projection } from '../src/store/event-store.js';
import type { WriteBehindDatabase } from '../src/store/write-behind.js';

/** A database that notes any use: a projection handed an event it ignores must not touch it. */
function watchedDatabase(): { db: WriteBehindDatabase; touched: () => boolean } {
  let touched = false;
  const db = new Proxy({} as WriteBehindDatabase, {
    get() {
      touched = true;
      throw new Error('the projection used the database');
    },
  });
  return { db, touched: () => touched };
}

function exampleEvent(type: string, version: number, payload: Record<string, unknown>) {
  return {
    eventId: 'evt_example',
    eventType: type,
    eventVersion: version,
    occurredAt: '2026-12-07T00:00:00.000Z',
    tenantId: 'ten_example',
    actor: { type: 'user', id: 'usr_example' },
    correlationId: 'evt_example',
    payload,
    position: 1,
    aggregateType: 'user',
    aggregateId: 'usr_example',
    aggregateVersion: 1,
    recordedAt: '2026-12-07T00:00:00.000Z',
    hash: 'f'.repeat(64),
  } as unknown as ProjectedEvent;
}

async function touches(projection: Projection, event: ProjectedEvent): Promise<boolean> {
  const { db, touched } = watchedDatabase();
  try {
    await projection.apply(db, event);
  } catch {
    // A throw from the watched database is the finding; `touched` says so.
  }
  return touched();
}

const declaring = PROJECTIONS.filter((projection) => projection.events !== undefined);

describe('projections that declare their event types', () => {
  it('are the asynchronous ones (the store hands them only those types)', () => {
    expect(declaring.map((projection) => projection.name).sort()).toEqual([
      'members',
      'passkeys',
      'revocation_feed',
      'sessions',
      'users',
    ]);
  });

  it('the watch sees a projection that uses the database', async () => {
    const registered = EVENT_CATALOGUE.find((d) => d.type === 'identity.user.registered');
    const users = declaring.find((projection) => projection.name === 'users');
    if (registered === undefined || users === undefined) throw new Error('fixture missing');
    const event = exampleEvent(registered.type, registered.version, registered.example);
    expect(await touches(users, event)).toBe(true);
  });

  for (const projection of declaring) {
    it(`${projection.name}: ignores every catalogue type it leaves out`, async () => {
      const left = EVENT_CATALOGUE.filter(
        (definition) => !projection.events?.has(definition.type as ProjectedEvent['eventType']),
      );
      expect(left.length).toBeGreaterThan(0);
      const acting: string[] = [];
      for (const definition of left) {
        const event = exampleEvent(definition.type, definition.version, definition.example);
        if (await touches(projection, event))
          acting.push(`${definition.type} v${definition.version}`);
      }
      expect(acting).toEqual([]);
    });
  }
});
