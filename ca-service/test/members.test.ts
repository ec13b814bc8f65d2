import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';
import { buildApp } from '../src/app.js';
import { DENIAL_QUIET_MS } from '../src/members/authorization-decisions.js';
import { SYSTEM_TENANT_ID } from '../src/context/ca-context.js';
import { InboxProcessor } from '../src/inbox/inbox-processor.js';

const ORIGIN = 'http://localhost:80';
const PASSWORD = 'correct horse battery';

let ca: TestCa;
let tenantId = '';
let schools = 0;
beforeAll(async () => {
  ca = await startTestCa();
});
afterAll(async () => ca?.close());
beforeEach(async () => {
  tenantId = await createTenant(ca, `District ${++schools}`);
});

interface Console {
  call(method: 'GET' | 'POST', url: string, body?: unknown): Promise<LightMyRequestResponse>;
}

function signInResponse(username: string, password = PASSWORD, tenant = tenantId) {
  return ca.app.inject({
    method: 'POST',
    url: '/admin/session',
    headers: { origin: ORIGIN },
    payload: { tenant, username, password },
  });
}

async function signIn(username: string, password = PASSWORD): Promise<Console> {
  const response = await signInResponse(username, password);
  expect(response.statusCode, response.body).toBe(201);
  const cookie = String(response.headers['set-cookie']).split(';')[0]!;
  const csrf = (response.json() as { csrfToken: string }).csrfToken;
  return {
    call: (method, url, payload) =>
      ca.app.inject({
        method,
        url,
        headers: {
          cookie,
          ...(method === 'GET' ? {} : { origin: ORIGIN, 'x-lantern-csrf': csrf }),
        },
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      }),
  };
}

async function invite(body: Record<string, unknown>, key?: string): Promise<string> {
  const response = await ca.admin(
    'POST',
    '/v1/admin/invitations',
    { tenant: tenantId, ...body },
    key,
  );
  expect(response.statusCode, response.body).toBe(201);
  return (response.json() as { token: string }).token;
}

function accept(token: string, username: string, extra: Record<string, unknown> = {}) {
  return ca.app.inject({
    method: 'POST',
    url: '/v1/invitations/accept',
    payload: { tenant: tenantId, token, username, password: PASSWORD, ...extra },
  });
}

async function decisions(result?: 'allow' | 'deny') {
  return (await ca.ctx.store.read({ eventType: 'identity.authorization.decision_recorded' }))
    .map((event) => event.payload as Record<string, string>)
    .filter((payload) => result === undefined || payload['result'] === result);
}

async function memberships(userId: string) {
  return (await ca.ctx.store.db
    .prepare('SELECT membership_id, status FROM memberships WHERE user_id = ?')
    .all(userId)) as { membership_id: string; status: string }[];
}

describe('invitation tokens', () => {
  it('refuses a malformed, tampered or other tenant token, writing nothing', async () => {
    const token = await invite({ email: 'a@school.example', roles: ['auditor'] });
    const other = await createTenant(ca, `Elsewhere ${schools}`);
    const before = await ca.eventCount();
    const tampered = token.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    for (const [bad, tenant] of [
      ['not-a-token', tenantId],
      [tampered, tenantId],
      [token, other],
    ] as const) {
      const response = await accept(bad, 'ana', { tenant });
      expect(response.statusCode, response.body).toBe(401);
      expect(response.json()).toMatchObject({ code: 'invitation_invalid' });
    }
    expect(await ca.eventCount()).toBe(before);
  });

  it('is rate-limited per client, like sign-in', async () => {
    const app = await buildApp({ context: ca.ctx, loginRateLimitPerMinute: 2 });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await app.inject({
          method: 'POST',
          url: '/v1/invitations/accept',
          payload: { tenant: tenantId, token: 'guess', username: 'g', password: PASSWORD },
        });
        codes.push(response.statusCode);
      }
      expect(codes).toEqual([401, 401, 429]);
    } finally {
      await app.close();
    }
  });

  it('an admin revokes a pending invitation: its token stops working, a second revoke changes nothing', async () => {
    const token = await invite({ email: 'd@school.example', roles: ['auditor'] });
    const invitationId = token.split('.')[0]!;
    const revoke = (id: string, tenant = tenantId) =>
      ca.admin('POST', `/v1/admin/invitations/${id}/revoke`, { tenant, reason: 'wrong address' });
    const other = await createTenant(ca, `Elsewhere ${schools}`);
    // Grants of members:write are recorded as decisions; what must not change is the rest.
    const stateEvents = async () => (await ca.eventCount()) - (await decisions()).length;
    const before = await stateEvents();
    for (const [id, tenant] of [
      ['inv_01J9Z3YQ8M6W4Q9V2K7T5R3N1K', tenantId],
      [invitationId, other],
    ] as const) {
      const missing = await revoke(id, tenant);
      expect(missing.statusCode, missing.body).toBe(404);
      expect(missing.json()).toMatchObject({ code: 'invitation_not_found' });
    }
    expect(await stateEvents()).toBe(before);

    const revoked = await revoke(invitationId);
    expect(revoked.statusCode, revoked.body).toBe(200);
    expect(revoked.json()).toMatchObject({ invitationId, status: 'revoked' });
    const events = await ca.ctx.store.read({ eventType: 'identity.invitation.revoked' });
    expect(events.at(-1)).toMatchObject({
      aggregateId: invitationId,
      payload: { invitationId, reason: 'wrong address' },
    });
    const count = await stateEvents();
    expect((await revoke(invitationId)).json()).toMatchObject({ status: 'revoked' });
    expect(await stateEvents()).toBe(count);

    const refused = await accept(token, 'dee');
    expect(refused.statusCode).toBe(410);
    expect(refused.json()).toMatchObject({ code: 'invitation_revoked' });
    expect(await ca.ctx.store.db.prepare("SELECT 1 FROM users WHERE username = 'dee'").get()).toBe(
      undefined,
    );
    const listed = (await ca.admin('GET', `/v1/admin/invitations?tenant=${tenantId}`)).json() as {
      invitations: { invitationId: string; status: string }[];
    };
    expect(listed.invitations.find((i) => i.invitationId === invitationId)?.status).toBe('revoked');
  });

  it('revoking needs what the invitation grants: a members:write key cannot withdraw an org_admin one', async () => {
    const token = await invite({ email: 'f@school.example', roles: ['org_admin'] });
    const id = token.split('.')[0]!;
    const key = (
      await ca.admin('POST', '/v1/admin/api-keys', { tenant: tenantId, scopes: ['members:write'] })
    ).json() as { apiKey: string };
    const refused = await ca.admin(
      'POST',
      `/v1/admin/invitations/${id}/revoke`,
      { tenant: tenantId },
      key.apiKey,
    );
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'forbidden' });
    const mine = (await invite({ email: 'g@school.example', roles: [] }, key.apiKey)).split('.')[0];
    const allowed = await ca.admin(
      'POST',
      `/v1/admin/invitations/${mine}/revoke`,
      { tenant: tenantId },
      key.apiKey,
    );
    expect(allowed.json()).toMatchObject({ status: 'revoked' });
    expect((await accept(token, 'fay')).statusCode).toBe(201);
  });

  it('an accepted invitation cannot be revoked: the membership is suspended instead', async () => {
    const token = await invite({ email: 'e@school.example', roles: [] });
    expect((await accept(token, 'eve')).statusCode).toBe(201);
    const answer = await ca.admin('POST', `/v1/admin/invitations/${token.split('.')[0]}/revoke`, {
      tenant: tenantId,
    });
    expect(answer.statusCode).toBe(409);
    expect(answer.json()).toMatchObject({ code: 'invitation_used' });
  });

  it('refuses an expired token', async () => {
    const token = await invite({ email: 'b@school.example', roles: [], ttlSeconds: 600 });
    ca.clock.advance(601_000);
    const response = await accept(token, 'bea');
    expect(response.statusCode).toBe(410);
    expect(response.json()).toMatchObject({ code: 'invitation_expired' });
    expect(await ca.ctx.store.db.prepare("SELECT 1 FROM users WHERE username = 'bea'").get()).toBe(
      undefined,
    );
  });

  it('is single use: a second accept, even under another name, is refused', async () => {
    const token = await invite({ email: 'c@school.example', roles: ['auditor'] });
    expect((await accept(token, 'cem')).statusCode).toBe(201);
    const again = await accept(token, 'cem2');
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'invitation_used' });
    const raced = await invite({ email: 'd@school.example' });
    const both = await Promise.all([accept(raced, 'dia'), accept(raced, 'dio')]);
    expect(both.map((response) => response.statusCode).sort()).toEqual([201, 409]);
  });

  it('stores only the hash of the token', async () => {
    const token = await invite({ email: 'e@school.example' });
    const secret = token.split('.')[1]!;
    const dump = JSON.stringify(
      await ca.ctx.store.db.prepare('SELECT payload FROM events').all(),
    ).concat(JSON.stringify(await ca.ctx.store.db.prepare('SELECT * FROM invitations').all()));
    expect(dump).not.toContain(secret);
    expect(
      JSON.stringify(await ca.ctx.store.db.prepare('SELECT payload FROM events').all()),
    ).not.toContain('e@school.example');
  });

  it('forgets the invited email when the invitee is erased, in the projection and on replay', async () => {
    const token = await invite({ email: 'gone@school.example', roles: ['auditor'] });
    const { userId, invitationId } = (await accept(token, 'gone')).json() as Record<string, string>;
    const email = () =>
      ca.ctx.store.db
        .prepare('SELECT email FROM invitations WHERE invitation_id = ?')
        .get(invitationId);
    expect(await email()).toEqual({ email: 'gone@school.example' });
    expect((await ca.admin('POST', `/v1/admin/users/${userId}/erase`, {})).statusCode).toBe(200);
    expect(await email()).toEqual({ email: 'erased' });
    await ca.ctx.store.rebuildProjections();
    expect(await email()).toEqual({ email: 'erased' });
  });
});

describe('memberships and roles', () => {
  it('invite → accept → active membership → the role grants its scopes in the console, no more', async () => {
    const token = await invite({ email: 'teacher@school.example', roles: ['device_manager'] });
    const accepted = await accept(token, 'tess', { displayName: 'Tess T.' });
    expect(accepted.statusCode, accepted.body).toBe(201);
    const { userId, membershipId, account } = accepted.json() as Record<string, string>;
    expect(account).toBe('created');
    expect(await memberships(userId!)).toEqual([{ membership_id: membershipId, status: 'active' }]);
    const types = (await ca.ctx.store.read({ tenantId })).map((event) => event.eventType);
    expect(types).toEqual(
      expect.arrayContaining([
        'identity.invitation.created',
        'identity.user.registered',
        'identity.membership.activated',
        'identity.invitation.accepted',
        'identity.role.assigned',
      ]),
    );

    const tess = await signIn('tess');
    expect((await tess.call('GET', '/v1/admin/devices')).statusCode).toBe(200);
    const enroll = await tess.call('POST', '/v1/admin/enrollment-tokens', { ttlSeconds: 600 });
    expect(enroll.statusCode, enroll.body).toBe(201);
    const users = await tess.call('GET', '/v1/admin/users');
    expect(users.statusCode).toBe(403);
    expect(await decisions('deny')).toContainEqual(
      expect.objectContaining({
        subject: userId,
        action: 'GET /v1/admin/users',
        scope: 'users:read',
        resource: `tenant:${tenantId}`,
        result: 'deny',
      }),
    );
    // The same refusal again within the quiet period is not recorded twice.
    const denials = (await decisions('deny')).length;
    await tess.call('GET', '/v1/admin/users');
    expect(await decisions('deny')).toHaveLength(denials);
    ca.clock.advance(DENIAL_QUIET_MS);
    await tess.call('GET', '/v1/admin/users');
    expect(await decisions('deny')).toHaveLength(denials + 1);
  });

  it('a suspended membership grants nothing until it is active again', async () => {
    const token = await invite({ email: 'sam@school.example', roles: ['auditor'] });
    const { userId, membershipId } = (await accept(token, 'sam')).json() as Record<string, string>;
    const sam = await signIn('sam');
    expect((await sam.call('GET', '/v1/admin/devices')).statusCode).toBe(200);

    const suspended = await ca.admin('POST', `/v1/admin/memberships/${membershipId}/suspend`, {
      tenant: tenantId,
      reason: 'left the school',
    });
    expect(suspended.statusCode, suspended.body).toBe(200);
    expect(suspended.json()).toMatchObject({ status: 'suspended', roles: ['auditor'] });
    const refused = await sam.call('GET', '/v1/admin/devices');
    expect(refused.statusCode).toBe(403);
    expect(await decisions('deny')).toContainEqual(
      expect.objectContaining({ subject: userId, action: 'GET /v1/admin/devices' }),
    );
    expect((await signInResponse('sam')).statusCode).toBe(403);

    const back = await ca.admin('POST', '/v1/admin/memberships', { tenant: tenantId, userId });
    expect(back.statusCode).toBe(201);
    expect(back.json()).toMatchObject({ membershipId, status: 'active' });
    expect((await sam.call('GET', '/v1/admin/devices')).statusCode).toBe(200);
  });

  it('a role held in one school grants nothing on district-wide routes', async () => {
    const school = (
      await ca.admin('POST', '/v1/admin/organizations', { tenant: tenantId, name: 'North School' })
    ).json() as { organizationId: string };
    const token = await invite({
      email: 'nia@school.example',
      organizationId: school.organizationId,
      roles: ['device_manager'],
    });
    const { userId } = (await accept(token, 'nia')).json() as Record<string, string>;
    expect((await signInResponse('nia')).statusCode).toBe(403);

    // District-wide she only audits: reading devices works, creating enrollment tokens does not.
    const district = await ca.admin('POST', '/v1/admin/memberships', { tenant: tenantId, userId });
    const { membershipId } = district.json() as { membershipId: string };
    const granted = await ca.admin('POST', `/v1/admin/memberships/${membershipId}/permissions`, {
      tenant: tenantId,
      permission: 'devices:read',
    });
    expect(granted.json()).toMatchObject({ permissions: ['devices:read'], roles: [] });
    const nia = await signIn('nia');
    expect((await nia.call('GET', '/v1/admin/devices')).statusCode).toBe(200);
    expect((await nia.call('POST', '/v1/admin/enrollment-tokens', {})).statusCode).toBe(403);

    const listed = await ca.admin('GET', `/v1/admin/memberships?tenant=${tenantId}&user=${userId}`);
    expect((listed.json() as { memberships: unknown[] }).memberships).toEqual([
      expect.objectContaining({ organizationId: school.organizationId, roles: ['device_manager'] }),
      expect.objectContaining({ organizationId: tenantId, permissions: ['devices:read'] }),
    ]);
  });

  it('refuses another tenant, an unknown school, and a grant beyond what the granter holds', async () => {
    const other = await createTenant(ca, `Other ${schools}`);
    const key = (
      await ca.admin('POST', '/v1/admin/api-keys', { tenant: other, scopes: ['members:write'] })
    ).json() as { apiKey: string };
    const foreign = await ca.admin(
      'POST',
      '/v1/admin/invitations',
      { tenant: tenantId, email: 'x@school.example' },
      key.apiKey,
    );
    expect(foreign.statusCode).toBe(403);
    // Recorded in the installation's stream: an outsider writes nothing into this tenant's,
    // and its own event feed does not show this tenant's id.
    const denied = (
      await ca.ctx.store.read({
        tenantId: SYSTEM_TENANT_ID,
        eventType: 'identity.authorization.decision_recorded',
      })
    ).at(-1);
    expect(
      await ca.ctx.store.read({
        tenantId: other,
        eventType: 'identity.authorization.decision_recorded',
      }),
    ).toEqual([]);
    expect(denied?.payload).toMatchObject({ resource: `tenant:${tenantId}`, result: 'deny' });
    expect(
      await ca.ctx.store.read({ tenantId, eventType: 'identity.authorization.decision_recorded' }),
    ).toEqual([]);
    const otherSchool = (
      await ca.admin('POST', '/v1/admin/organizations', { tenant: other, name: 'Theirs' })
    ).json() as { organizationId: string };
    const wrongOrg = await ca.admin('POST', '/v1/admin/invitations', {
      tenant: tenantId,
      email: 'y@school.example',
      organizationId: otherSchool.organizationId,
    });
    expect(wrongOrg.statusCode).toBe(404);
    expect(wrongOrg.json()).toMatchObject({ code: 'organization_not_found' });

    // A user manager may invite, but not into a role that carries more than it holds.
    const token = await invite({ email: 'uma@school.example', roles: ['user_manager'] });
    await accept(token, 'uma');
    const uma = await signIn('uma');
    const escalate = await uma.call('POST', '/v1/admin/invitations', {
      email: 'z@school.example',
      roles: ['org_admin'],
    });
    expect(escalate.statusCode).toBe(403);
    const self = (await ca.admin('GET', `/v1/admin/memberships?tenant=${tenantId}`)).json() as {
      memberships: { username: string; membershipId: string }[];
    };
    const own = self.memberships.find((m) => m.username === 'uma')!.membershipId;
    const promote = await uma.call('POST', `/v1/admin/memberships/${own}/roles`, {
      role: 'device_manager',
    });
    expect(promote.statusCode).toBe(403);
    expect(await decisions('deny')).toContainEqual(
      expect.objectContaining({
        action: 'POST /v1/admin/memberships/:id/roles',
        reason: expect.stringContaining('devices:read'),
      }),
    );
    const fine = await uma.call('POST', '/v1/admin/invitations', {
      email: 'z@school.example',
      roles: ['user_manager'],
    });
    expect(fine.statusCode).toBe(201);
  });

  it('records privileged grants, not routine reads', async () => {
    const before = (await decisions('allow')).length;
    await ca.admin('GET', `/v1/admin/devices?tenant=${tenantId}`);
    expect(await decisions('allow')).toHaveLength(before);
    await invite({ email: 'p@school.example' });
    expect((await decisions('allow')).at(-1)).toMatchObject({
      action: 'POST /v1/admin/invitations',
      scope: 'members:write',
      resource: `tenant:${tenantId}`,
      result: 'allow',
    });
  });

  it('joins an existing account with its password, and completes an inbox shadow account', async () => {
    await createUser(ca, tenantId, 'someone.else', PASSWORD, 'teacher');
    await ca.admin('POST', '/v1/admin/users', {
      tenant: tenantId,
      username: 'old.hand',
      password: PASSWORD,
      role: 'teacher',
      email: 'Old@school.example',
    });
    const token = await invite({ email: 'old@school.example', roles: ['auditor'] });
    // Another address's account is not joined, even with its right password.
    const other = await accept(token, 'someone.else');
    expect(other.json()).toMatchObject({ code: 'invalid_credentials' });
    const wrong = await accept(token, 'old.hand', { password: 'not the password' });
    expect(wrong.json()).toMatchObject({ code: 'invalid_credentials' });
    const joined = await accept(token, 'old.hand');
    expect(joined.json()).toMatchObject({ account: 'existing' });

    const inbox = new InboxProcessor(ca.ctx);
    await inbox.process({
      eventId: 'evt_01J9Z3YQ8M6W4Q9V2K7T5R3N1A',
      eventType: 'tenant.org.user_invited',
      eventVersion: 1,
      occurredAt: new Date(ca.clock.now()).toISOString(),
      tenantId,
      actor: { type: 'system', id: 'tenant-service' },
      correlationId: 'c-1',
      partitionKey: 'inv_1',
      payload: {
        inviteId: 'inv_1',
        username: 'shadow',
        role: 'teacher',
        email: 'sh@school.example',
      },
    });
    const stranger = await accept(await invite({ email: 'st@school.example' }), 'shadow');
    expect(stranger.json()).toMatchObject({ code: 'invalid_credentials' });
    const shadow = await accept(await invite({ email: 'sh@school.example' }), 'shadow');
    expect(shadow.json()).toMatchObject({ account: 'completed' });
    const user = await ca.ctx.store.db
      .prepare("SELECT status FROM users WHERE tenant_id = ? AND username = 'shadow'")
      .get(tenantId);
    expect(user).toEqual({ status: 'active' });
  });

  it('refuses joining an account suspended or given a new password while its password was checked', async () => {
    const userId = await createUser(ca, tenantId, 'late.joiner', PASSWORD, 'teacher');
    await ca.admin('PATCH', `/v1/admin/users/${userId}`, { email: 'late@school.example' });
    const token = await invite({ email: 'late@school.example', roles: ['auditor'] });
    const { passwords } = ca.ctx;
    const verify = passwords.verify.bind(passwords);
    const duringNextCheck = (action: () => Promise<unknown>) => {
      passwords.verify = async (password, stored) => {
        passwords.verify = verify;
        const verdict = await verify(password, stored);
        await action();
        return verdict;
      };
    };
    duringNextCheck(() => ca.admin('POST', `/v1/admin/users/${userId}/suspend`, {}));
    expect((await accept(token, 'late.joiner')).json()).toMatchObject({
      code: 'invalid_credentials',
    });
    expect(await memberships(userId)).toEqual([]);
    await ca.admin('POST', `/v1/admin/users/${userId}/reactivate`, {});
    duringNextCheck(() =>
      ca.admin('POST', `/v1/admin/users/${userId}/password`, { password: 'another long phrase' }),
    );
    expect((await accept(token, 'late.joiner')).json()).toMatchObject({
      code: 'invalid_credentials',
    });
    expect(await memberships(userId)).toEqual([]);
    expect(
      (await accept(token, 'late.joiner', { password: 'another long phrase' })).json(),
    ).toMatchObject({
      account: 'existing',
    });
  });

  it('a replay rebuilds the same organisations, invitations, memberships and grants', async () => {
    await ca.admin('POST', '/v1/admin/organizations', { tenant: tenantId, name: 'South' });
    const { membershipId } = (
      await accept(await invite({ email: 'r@school.example', roles: ['auditor'] }), 'rhea')
    ).json() as Record<string, string>;
    await ca.admin('POST', `/v1/admin/memberships/${membershipId}/suspend`, { tenant: tenantId });
    await invite({ email: 'pending@school.example', roles: ['device_manager'] });
    const snapshot = () =>
      Promise.all(
        ['organizations', 'invitations', 'memberships', 'member_assignments'].map((table) =>
          ca.ctx.store.db.prepare(`SELECT * FROM ${table} ORDER BY 1`).all(),
        ),
      );
    const before = await snapshot();
    expect(before.every((rows) => rows.length > 0)).toBe(true);
    await ca.ctx.store.rebuildProjections();
    expect(await snapshot()).toEqual(before);
  });
});
