import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';

const ORIGIN = 'http://localhost:80';
const PASSWORD = 'correct horse battery';

let ca: TestCa;
let tenantId = '';
beforeAll(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Escalation District');
});
afterAll(async () => ca?.close());

/** A console session of a teacher who holds the `user_manager` membership role tenant-wide. */
async function userManager() {
  const invited = await ca.admin('POST', '/v1/admin/invitations', {
    tenant: tenantId,
    email: 'uma@school.example',
    roles: ['user_manager'],
  });
  const { token } = invited.json() as { token: string };
  const accepted = await ca.app.inject({
    method: 'POST',
    url: '/v1/invitations/accept',
    payload: { tenant: tenantId, token, username: 'uma', password: PASSWORD },
  });
  expect(accepted.statusCode, accepted.body).toBe(201);
  const { userId } = accepted.json() as { userId: string };
  const session = await ca.app.inject({
    method: 'POST',
    url: '/admin/session',
    headers: { origin: ORIGIN },
    payload: { tenant: tenantId, username: 'uma', password: PASSWORD },
  });
  expect(session.statusCode, session.body).toBe(201);
  const cookie = String(session.headers['set-cookie']).split(';')[0]!;
  const csrf = (session.json() as { csrfToken: string }).csrfToken;
  return {
    userId,
    call: (method: 'POST' | 'PATCH', url: string, payload: Record<string, unknown>) =>
      ca.app.inject({
        method,
        url,
        headers: { cookie, origin: ORIGIN, 'x-lantern-csrf': csrf },
        payload,
      }),
  };
}

describe('a user manager cannot make or take over a tenant admin', () => {
  it('refuses promoting, creating, re-addressing or locking an admin without `admin`', async () => {
    const uma = await userManager();
    const adminId = await createUser(ca, tenantId, 'head', PASSWORD, 'admin');
    const teacherId = await createUser(ca, tenantId, 'tess', PASSWORD, 'teacher');

    const promoteSelf = await uma.call('PATCH', `/v1/admin/users/${uma.userId}`, { role: 'admin' });
    expect(promoteSelf.statusCode, promoteSelf.body).toBe(403);
    const created = await uma.call('POST', '/v1/admin/users', {
      username: 'sleeper',
      password: PASSWORD,
      role: 'admin',
    });
    expect(created.statusCode, created.body).toBe(403);
    // Re-addressing an admin and asking for a reset link would hand over the account.
    const readdress = await uma.call('PATCH', `/v1/admin/users/${adminId}`, {
      email: 'attacker@evil.example',
    });
    expect(readdress.statusCode, readdress.body).toBe(403);
    const password = await uma.call('POST', `/v1/admin/users/${adminId}/password`, {
      password: 'taken over, thank you',
    });
    expect(password.statusCode, password.body).toBe(403);
    const lock = await uma.call('POST', `/v1/admin/users/${adminId}/lock`, {});
    expect(lock.statusCode, lock.body).toBe(403);
    const users = await ca.ctx.store.db
      .prepare('SELECT username, role, email FROM users WHERE tenant_id = ? ORDER BY username')
      .all(tenantId);
    expect(users).toContainEqual({ username: 'uma', role: 'teacher', email: 'uma@school.example' });
    expect(users).toContainEqual({ username: 'head', role: 'admin', email: null });
    expect(users).not.toContainEqual(expect.objectContaining({ username: 'sleeper' }));

    // A teacher account holding `org_admin` is an admin in all but name.
    const orgAdmin = await ca.admin('POST', '/v1/admin/invitations', {
      tenant: tenantId,
      email: 'oa@school.example',
      roles: ['org_admin'],
    });
    const oa = await ca.app.inject({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: {
        tenant: tenantId,
        token: (orgAdmin.json() as { token: string }).token,
        username: 'oa',
        password: PASSWORD,
      },
    });
    const { userId: oaId, membershipId: oaMembership } = oa.json() as Record<string, string>;
    const oaPassword = await uma.call('POST', `/v1/admin/users/${oaId}/password`, {
      password: 'taken over, thank you',
    });
    expect(oaPassword.statusCode, oaPassword.body).toBe(403);
    const suspend = await uma.call('POST', `/v1/admin/memberships/${oaMembership}/suspend`, {
      tenant: tenantId,
    });
    expect(suspend.statusCode, suspend.body).toBe(403);

    // Nor lifts a suspension an admin imposed, which gives the roles back.
    const imposed = await ca.admin('POST', `/v1/admin/memberships/${oaMembership}/suspend`, {
      tenant: tenantId,
    });
    expect(imposed.statusCode, imposed.body).toBe(200);
    const lift = await uma.call('POST', '/v1/admin/memberships', {
      tenant: tenantId,
      userId: oaId,
    });
    expect(lift.statusCode, lift.body).toBe(403);
    const status = await ca.ctx.store.db
      .prepare('SELECT status FROM memberships WHERE membership_id = ?')
      .get(oaMembership);
    expect(status).toEqual({ status: 'suspended' });

    // What the role is for still works on non-admin accounts.
    const fine = await uma.call('PATCH', `/v1/admin/users/${teacherId}`, {
      email: 'tess@school.example',
    });
    expect(fine.statusCode, fine.body).toBe(200);
  });
});
