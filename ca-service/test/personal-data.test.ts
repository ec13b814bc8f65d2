import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_HASH, eventHash } from '../src/store/event-store.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';

let ca: TestCa;
let tenantId: string;
beforeEach(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
});
afterEach(async () => ca.close());

const rawEvents = async () =>
  ((await ca.ctx.store.db.prepare('SELECT payload FROM events').all()) as { payload: string }[])
    .map((row) => row.payload)
    .join('\n');

describe('GDPR erasure by crypto-shredding', () => {
  it('keeps names and emails out of the events in clear', async () => {
    const response = await ca.admin('POST', '/v1/admin/users', {
      tenant: tenantId,
      username: 'amina.k',
      role: 'teacher',
      password: 'correct horse battery',
      email: 'amina@hillside.example',
      displayName: 'Amina K.',
    });
    expect(response.statusCode).toBe(201);
    expect(response.json()).toMatchObject({
      username: 'amina.k',
      email: 'amina@hillside.example',
      displayName: 'Amina K.',
    });
    const events = await rawEvents();
    for (const personal of ['amina.k', 'amina@hillside.example', 'Amina K.'])
      expect(events).not.toContain(personal);
    expect(events).toContain('"personalData":"pii1.');
  });

  it('erasure makes the events unreadable about the person, keeps the chain intact and replays anonymised', async () => {
    const { userId } = (
      await ca.admin('POST', '/v1/admin/users', {
        tenant: tenantId,
        username: 'kofi',
        role: 'learner',
        password: 'correct horse battery',
        email: 'kofi@hillside.example',
      })
    ).json() as { userId: string };
    const before = await ca.ctx.store.read({ limit: 1000 });
    expect((await ca.admin('POST', `/v1/admin/users/${userId}/erase`, {})).statusCode).toBe(200);

    expect(
      await ca.ctx.store.db
        .prepare('SELECT COUNT(*) AS n FROM subject_keys WHERE user_id = ?')
        .get(userId),
    ).toEqual({ n: 0 });
    expect(await ca.ctx.store.read({ limit: before.length })).toEqual(before);
    let previous = GENESIS_HASH;
    for (const { hash, ...rest } of await ca.ctx.store.read({ limit: 1000 })) {
      expect(hash).toBe(eventHash(previous, rest));
      previous = hash;
    }

    await ca.ctx.store.rebuildProjections();
    const row = await ca.ctx.store.db
      .prepare('SELECT username, email, status FROM users WHERE user_id = ?')
      .get(userId);
    expect(row).toEqual({ username: `erased:${userId}`, email: null, status: 'erased' });
    const login = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenantId, username: 'kofi', password: 'correct horse battery' },
    });
    expect(login.json()).toMatchObject({ code: 'invalid_credentials' });
  });

  it('a sealed value moved to another user does not open', async () => {
    const ids: string[] = [];
    for (const username of ['ama', 'yaw']) {
      ids.push(
        (
          (
            await ca.admin('POST', '/v1/admin/users', {
              tenant: tenantId,
              username,
              role: 'learner',
              password: 'correct horse battery',
            })
          ).json() as {
            userId: string;
          }
        ).userId,
      );
    }
    const [first, second] = await ca.ctx.store.read({ eventType: 'identity.user.registered' });
    const { openPersonalData } = await import('../src/users/personal-data.js');
    expect(
      await openPersonalData(ca.ctx.store.db, ids[1] ?? '', String(first?.payload['personalData'])),
    ).toBeNull();
    expect(
      await openPersonalData(
        ca.ctx.store.db,
        ids[1] ?? '',
        String(second?.payload['personalData']),
      ),
    ).toEqual({ username: 'yaw' });
  });
});
