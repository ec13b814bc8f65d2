import { EVENT_CATALOGUE } from '@lantern/shared';
import { describe, expect, it } from 'vitest';
import { PROJECTIONS } from '../src/data-dir/open-ca.js';
import type { ProjectedEvent, Projection } from '../src/store/event-store.js';
import type { WriteBehindDatabase } from '../src/store/write-behind.js';
import { applyUserAction } from '../src/users/users.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';

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

/**
 * The catalogue's example, and variants that open the branches an example can skip: a report
 * made online rather than offline, an admin's lock, a passkey rather than a TOTP factor.
 */
function payloadsOf(example: Record<string, unknown>): Record<string, unknown>[] {
  const online = Object.fromEntries(Object.entries(example).filter(([key]) => key !== 'offline'));
  return [
    example,
    online,
    { ...example, reason: 'admin' },
    { ...example, kind: 'webauthn', credentialId: 'cred_example' },
  ];
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
        for (const payload of payloadsOf(definition.example)) {
          const event = exampleEvent(definition.type, definition.version, payload);
          if (await touches(projection, event)) {
            acting.push(`${definition.type} v${definition.version}`);
            break;
          }
        }
      }
      expect(acting).toEqual([]);
    });
  }

  it('every declared type takes a branch that writes, with one of the payloads tried', async () => {
    const silent: string[] = [];
    for (const projection of declaring) {
      for (const type of projection.events ?? []) {
        const definitions = EVENT_CATALOGUE.filter((definition) => definition.type === type);
        let writes = false;
        for (const definition of definitions) {
          for (const payload of payloadsOf(definition.example)) {
            const event = exampleEvent(type, definition.version, payload);
            writes ||= await touches(projection, event);
          }
        }
        if (!writes) silent.push(`${projection.name}: ${type}`);
      }
    }
    // Otherwise the check above could not notice that type missing from its set.
    expect(silent).toEqual([]);
  });
});

describe('the revocation feed', () => {
  it("carries an admin's lock of a user to every device", async () => {
    const ca = await startTestCa();
    try {
      const tenantId = await createTenant(ca, 'Hillside');
      const userId = await createUser(ca, tenantId, 'amina', 'correct horse battery staple');
      await applyUserAction(
        ca.ctx,
        { userId, tenantId, action: 'lock' },
        { actor: { type: 'system', id: 'test-admin' }, correlationId: 'lock' },
      );
      const entries = await ca.ctx.store.db
        .prepare('SELECT kind, reason FROM revocation_feed WHERE subject_id = ?')
        .all(userId);
      expect(entries).toEqual([{ kind: 'user', reason: 'user_locked' }]);
    } finally {
      await ca.close();
    }
  });
});
