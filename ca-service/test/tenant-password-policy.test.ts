import { runCli } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import type { EnrolledTestDevice } from '../../test/support/device-keys.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';
import { commands } from '../src/cli/commands.js';

/** Issue 15: a tenant sets the password strength it needs, where passwords are set and offline. */
let ca: TestCa;
let tenantId: string;
let otherTenantId: string;
let device: EnrolledTestDevice;
const SHORT = 'abcdefghij'; // 10 characters: enough before, not under a 12-character policy
const STRONG = 'correct horse battery staple';

beforeAll(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  otherTenantId = await createTenant(ca, 'Riverside');
  await createUser(ca, tenantId, 'amina', SHORT, 'learner');
  await createUser(ca, tenantId, 'tom', STRONG, 'learner');
  device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
});
afterAll(async () => ca.close());

const policyUrl = (tenant: string) => `/v1/admin/tenants/${tenant}/password-policy`;
const nowSeconds = () => Math.floor(ca.clock.now() / 1000);

function deviceLogin(username: string, password: string) {
  const body = JSON.stringify({ tenant: tenantId, username, password });
  return ca.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    headers: {
      'content-type': 'application/json',
      'lantern-device-proof': device.proof('POST', '/v1/auth/login', body, nowSeconds()),
    },
    payload: body,
  });
}

const createWith = (username: string, password: string) =>
  ca.admin('POST', '/v1/admin/users', { tenant: tenantId, username, password, role: 'teacher' });

describe('per-tenant password strength', () => {
  it('refuses a policy below 8 characters or with unknown fields, and changes nothing', async () => {
    for (const body of [
      { minLength: 7, refuseCommon: true },
      { minLength: 12 },
      { minLength: 12, refuseCommon: true, maxLength: 20 },
    ]) {
      const response = await ca.admin('PUT', policyUrl(tenantId), body);
      expect(response.statusCode, response.body).toBe(400);
    }
    const current = await ca.admin('GET', policyUrl(tenantId));
    expect(current.json()).toMatchObject({ minLength: 8, refuseCommon: false, updatedAt: null });
  });

  it('before a policy, a 10-character password goes offline (the grant is issued)', async () => {
    const answer = await deviceLogin('amina', SHORT);
    expect(answer.statusCode, answer.body).toBe(200);
    expect(answer.json()).toHaveProperty('offlineGrant');
  });

  it('set through the admin API: applies to this tenant only, where passwords are set', async () => {
    const set = await ca.admin('PUT', policyUrl(tenantId), { minLength: 12, refuseCommon: true });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({ tenantId, minLength: 12, refuseCommon: true });

    const tooShort = await createWith('short', SHORT);
    expect(tooShort.json()).toMatchObject({ code: 'credential_rejected' });
    expect(tooShort.json<{ message: string }>().message).toContain('too short');
    const common = await createWith('common', 'QwertyQwerty');
    expect(common.json()).toMatchObject({ code: 'credential_rejected' });
    expect(common.json<{ message: string }>().message).toContain('too common');
    expect((await createWith('fine', STRONG)).statusCode).toBe(201);
    // Another tenant keeps its own (default) policy.
    const elsewhere = await ca.admin('POST', '/v1/admin/users', {
      tenant: otherTenantId,
      username: 'short',
      password: SHORT,
      role: 'teacher',
    });
    expect(elsewhere.statusCode, elsewhere.body).toBe(201);
  });

  it('a password below the policy signs in online but gets no offline grant on a software device', async () => {
    const weak = await deviceLogin('amina', SHORT);
    expect(weak.statusCode, weak.body).toBe(200);
    expect(weak.json()).not.toHaveProperty('offlineGrant');
    const strong = await deviceLogin('tom', STRONG);
    expect(strong.json()).toHaveProperty('offlineGrant');
  });

  it('is set and shown by the CLI', async () => {
    const address = await ca.app.listen({ port: 0, host: '127.0.0.1' });
    const out: string[] = [];
    const run = (argv: string[]) =>
      runCli('lantern-ca', commands, [...argv, '--url', address, '--json'], {
        stdout: (text) => out.push(text),
        stderr: (text) => out.push(text),
        readStdin: async () => '',
        env: { LANTERN_API_KEY: ca.adminKey },
      });
    expect(await run(['tenant', 'password-policy', 'riverside', '--min-length', '7'])).toBe(2);
    expect(
      await run([
        'tenant',
        'password-policy',
        'riverside',
        '--min-length',
        '14',
        '--refuse-common',
      ]),
    ).toBe(0);
    expect(JSON.parse(out.at(-1) ?? '{}')).toMatchObject({ minLength: 14, refuseCommon: true });
    const shown = await ca.admin('GET', policyUrl(otherTenantId));
    expect(shown.json()).toMatchObject({ minLength: 14, refuseCommon: true });
  });
});
