import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TestIdp } from '../../test/support/oidc-idp.js';
import { handoffForm, startTestIdp } from '../../test/support/oidc-idp.js';
import { signIn } from '../src/signin/sign-in.js';
import type { SsoHandoffShown } from '../src/signin/sso-signin.js';
import { signInWithSso } from '../src/signin/sso-signin.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const CLIENT = { clientId: 'lantern-hillside', clientSecret: 'not-a-real-secret' };
const OFFLINE_PASSWORD = 'blue kettle on the windowsill';

let idp: TestIdp;
let world: SigninWorld;
let device: TestDevice;
let teacherId = '';

beforeAll(async () => {
  // The redirect URI names the CA's public URL, known only once the world runs: a placeholder
  // client per test is registered below instead.
  idp = await startTestIdp([]);
});
afterAll(async () => {
  await idp.close();
});

beforeEach(async () => {
  // The provider signs on the real clock, so the CA and the device run on it too.
  world = await startSigninWorld(tempDir, { now: Date.now() });
  await idp.close();
  idp = await startTestIdp([{ ...CLIENT, redirectUri: `${world.caUrl}/v1/sso/callback` }]);
  idp.accounts.set('sub-teacher', { email: 'n.okafor@hillside.example', emailVerified: true });
  const created = await world.ca.admin('POST', '/v1/admin/users', {
    tenant: world.tenantId,
    username: 'n.okafor',
    role: 'teacher',
    password: 'the password at the CA, never typed here',
    email: 'n.okafor@hillside.example',
  });
  expect(created.statusCode, created.body).toBe(201);
  teacherId = created.json<{ userId: string }>().userId;
  const sso = await world.ca.admin('POST', `/v1/admin/tenants/${world.tenantId}/sso`, {
    provider: 'google',
    issuer: idp.issuer,
    ...CLIENT,
    verifiedDomains: ['hillside.example'],
  });
  expect(sso.statusCode, sso.body).toBe(200);
  device = await world.device();
});
afterEach(async () => {
  await world.close();
});

/**
 * The person in the browser: signs in at the provider, lands on the CA's callback page and types
 * the code the device shows.
 */
const browser = (subject: string) => async (handoff: SsoHandoffShown) => {
  const { authorizationUrl, userCode = '', deviceId } = handoff;
  const back = await idp.authorize(authorizationUrl, subject);
  const landed = await fetch(back);
  const page = await landed.text();
  expect(landed.status, page).toBe(200);
  expect(page).toContain(deviceId);
  const { action, confirmToken } = handoffForm(page);
  const confirmed = await fetch(new URL(action, world.caUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ confirmToken, userCode: userCode.toLowerCase() }).toString(),
  });
  expect(confirmed.status, await confirmed.clone().text()).toBe(200);
};

describe('a teacher signs in through the school provider on a device, then offline', () => {
  it('refuses an identity the tenant cannot link, and stores nothing', async () => {
    idp.accounts.set('sub-stranger', { email: 'x@elsewhere.example', emailVerified: true });
    const refused = await signInWithSso(
      device.agent,
      {
        open: async ({ authorizationUrl }) => {
          const landed = await fetch(await idp.authorize(authorizationUrl, 'sub-stranger'));
          expect(landed.status).toBe(403);
        },
        offlinePassword: OFFLINE_PASSWORD,
        waitMs: 0,
      },
      TEST_OPTIONS,
    );
    // The browser was refused; the hand-off never completes and the device gives up waiting.
    expect(refused).toMatchObject({
      kind: 'answered',
      verdict: { ok: false, code: 'ca_refused', caCode: 'sso_handoff_pending' },
    });
    expect(device.count('grants')).toBe(0);
  });

  it('links the identity, gets the offline grant, and the offline password works with the CA gone', async () => {
    const online = await signInWithSso(
      device.agent,
      { open: browser('sub-teacher'), offlinePassword: OFFLINE_PASSWORD },
      TEST_OPTIONS,
    );
    expect(online).toMatchObject({
      kind: 'answered',
      verdict: { ok: true, mode: 'online', userId: teacherId, username: 'n.okafor' },
    });
    const linked = (await world.ca.ctx.store.db
      .prepare("SELECT payload FROM events WHERE event_type = 'identity.user.identity_linked'")
      .all()) as { payload: string }[];
    expect(linked.map(({ payload }) => JSON.parse(payload) as unknown)).toEqual([
      expect.objectContaining({ userId: teacherId, subject: 'sub-teacher' }),
    ]);
    expect(device.count('grants')).toBe(1);

    world.link.set('down');
    const wrong = await signIn(
      device.agent,
      { username: 'n.okafor', password: 'not the offline password' },
      TEST_OPTIONS,
    );
    expect(wrong).toMatchObject({ ok: false, mode: 'offline', code: 'bad_credentials' });
    const offline = await signIn(
      device.agent,
      { username: 'n.okafor', password: OFFLINE_PASSWORD },
      TEST_OPTIONS,
    );
    expect(offline).toMatchObject({ ok: true, mode: 'offline', userId: teacherId });
    const claims = device.verifier.verify((offline as { token: string }).token);
    expect(claims).toMatchObject({ ok: true });
  });

  it('without an offline password the sign-in is online only: no grant kept, offline refused', async () => {
    const online = await signInWithSso(
      device.agent,
      { open: browser('sub-teacher') },
      TEST_OPTIONS,
    );
    expect(online).toMatchObject({ kind: 'answered', verdict: { ok: true, mode: 'online' } });
    expect(device.count('grants')).toBe(0);
    world.link.set('down');
    expect(
      await signIn(
        device.agent,
        { username: 'n.okafor', password: OFFLINE_PASSWORD },
        TEST_OPTIONS,
      ),
    ).toMatchObject({ ok: false, mode: 'offline', code: 'no_grant' });
  });
});
