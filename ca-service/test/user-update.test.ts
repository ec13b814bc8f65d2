import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';

const PASSWORD = 'correct horse battery';

let ca: TestCa;
let tenantId = '';
let otherTenantId = '';
let schools = 0;

beforeAll(async () => {
  ca = await startTestCa();
});
afterAll(async () => ca?.close());
beforeEach(async () => {
  schools += 1;
  tenantId = await createTenant(ca, `Hillside ${schools}`);
  otherTenantId = await createTenant(ca, `Riverside ${schools}`);
});

const update = (userId: string, body: unknown) =>
  ca.admin('PATCH', `/v1/admin/users/${userId}`, body);

const updates = async (userId: string) =>
  (
    (await ca.ctx.store.db
      .prepare(
        "SELECT event_version, payload FROM events WHERE event_type = 'identity.user.updated' AND aggregate_id = ?",
      )
      .all(userId)) as { event_version: number; payload: string }[]
  ).map((row) => ({ version: row.event_version, payload: JSON.parse(row.payload) as object }));

const signIn = (username: string, password = PASSWORD) =>
  ca.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: tenantId, username, password },
  });

describe('PATCH /v1/admin/users/:id (identity.user.updated)', () => {
  it('refuses an empty change, an unknown field, a bad role and a bad email, writing nothing', async () => {
    const userId = await createUser(ca, tenantId, 'amina', PASSWORD, 'teacher');
    const before = await ca.eventCount();
    for (const body of [
      {},
      { username: 'someone-else' },
      { role: 'superuser' },
      { email: 'not an email' },
      { displayName: '' },
    ]) {
      const response = await update(userId, body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json()).toMatchObject({ code: 'invalid_request' });
    }
    expect(await ca.eventCount()).toBe(before);
  });

  it("answers 404 for another tenant's user through that tenant's scope, and for an unknown id", async () => {
    const userId = await createUser(ca, tenantId, 'amina', PASSWORD);
    const keyOfOther = await ca.admin('POST', '/v1/admin/api-keys', {
      tenant: otherTenantId,
      name: 'riverside',
      scopes: ['users:write'],
    });
    expect(keyOfOther.statusCode, keyOfOther.body).toBe(201);
    const otherKey = (keyOfOther.json() as { apiKey: string }).apiKey;
    const before = await ca.eventCount();
    const foreign = await ca.admin(
      'PATCH',
      `/v1/admin/users/${userId}`,
      { displayName: 'x' },
      otherKey,
    );
    expect(foreign.statusCode).toBe(404);
    expect((await update('usr_01J9Z3YQ8M6W4Q9V2K7T5R3N1B', { displayName: 'x' })).statusCode).toBe(
      404,
    );
    expect(await ca.eventCount()).toBe(before);
  });

  it('a users:write key neither makes, unmakes nor takes over an admin: that needs the admin scope', async () => {
    const learner = await createUser(ca, tenantId, 'amina', PASSWORD, 'learner');
    const admin = await createUser(ca, tenantId, 'bilal', PASSWORD, 'admin');
    const issued = await ca.admin('POST', '/v1/admin/api-keys', {
      tenant: tenantId,
      name: 'sis sync',
      scopes: ['users:write'],
    });
    const key = (issued.json() as { apiKey: string }).apiKey;
    // Denials are recorded as authorisation decisions; nothing else may be written.
    const effects = async () =>
      (await ca.ctx.store.read({ tenantId, limit: 10_000 })).filter(
        (event) => event.eventType !== 'identity.authorization.decision_recorded',
      ).length;
    const before = await effects();
    const attempts = [
      await ca.admin('PATCH', `/v1/admin/users/${learner}`, { role: 'admin' }, key),
      await ca.admin('PATCH', `/v1/admin/users/${admin}`, { role: 'learner' }, key),
      await ca.admin('PATCH', `/v1/admin/users/${admin}`, { email: 'mine@example.org' }, key),
      await ca.admin(
        'POST',
        '/v1/admin/users',
        { tenant: tenantId, username: 'chidi', role: 'admin', password: PASSWORD },
        key,
      ),
      await ca.admin('POST', `/v1/admin/users/${admin}/password`, { password: 'taken over' }, key),
    ];
    for (const response of attempts) {
      expect(response.statusCode, response.body).toBe(403);
      expect(response.json()).toMatchObject({ code: 'forbidden' });
    }
    expect(await effects()).toBe(before);
    expect(
      (await ca.admin('PATCH', `/v1/admin/users/${learner}`, { role: 'teacher' }, key)).statusCode,
    ).toBe(200);
  });

  it('does not promote a learner who signs in with a PIN until a password is set', async () => {
    const userId = await createUser(ca, tenantId, 'kofi', '482913', 'learner');
    const response = await update(userId, { role: 'teacher' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'credential_rejected' });
    expect(await updates(userId)).toEqual([]);
  });

  it('changes the email and name sealed under the user key, and shows them', async () => {
    const userId = await createUser(ca, tenantId, 'amina', PASSWORD, 'teacher');
    const response = await update(userId, {
      email: 'amina@hillside.example',
      displayName: 'Amina K.',
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      email: 'amina@hillside.example',
      displayName: 'Amina K.',
      role: 'teacher',
    });
    const [event] = await updates(userId);
    expect(event?.version).toBe(2);
    // Personal fields travel sealed, never in clear in the event log.
    expect(JSON.stringify(event?.payload)).not.toContain('amina@hillside.example');
    expect(event?.payload).not.toHaveProperty('role');
    // A later change of the name alone keeps the email.
    const renamed = await update(userId, { displayName: 'Amina Kamau' });
    expect(renamed.json()).toMatchObject({
      email: 'amina@hillside.example',
      displayName: 'Amina Kamau',
    });
  });

  it('a role change ends the sessions issued for the old role; the user signs in again as the new one', async () => {
    const userId = await createUser(ca, tenantId, 'amina', PASSWORD, 'admin');
    const first = await signIn('amina');
    expect(first.statusCode, first.body).toBe(200);
    const { refreshToken } = first.json() as { refreshToken: string };

    const demoted = await update(userId, { role: 'teacher' });
    expect(demoted.statusCode, demoted.body).toBe(200);
    expect(demoted.json()).toMatchObject({ role: 'teacher' });
    expect((await updates(userId)).at(-1)?.payload).toEqual({ userId, role: 'teacher' });

    const refreshed = await ca.app.inject({
      method: 'POST',
      url: '/v1/auth/refresh',
      payload: { refreshToken },
    });
    expect(refreshed.statusCode).toBe(401);
    const again = await signIn('amina');
    expect(again.statusCode, again.body).toBe(200);
  });
});
