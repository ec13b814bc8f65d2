import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestIdp } from '../../test/support/oidc-idp.js';
import { handoffForm, startTestIdp } from '../../test/support/oidc-idp.js';
import type { RunningAgent } from '../src/daemon/serve-agent.js';
import { serveAgent } from '../src/daemon/serve-agent.js';
import { signinRoutes } from '../src/daemon/signin-routes.js';
import { signinPage } from '../src/daemon/ui/signin-page.js';
import { pageMessages } from '../src/daemon/ui/page-messages.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const CLIENT = { clientId: 'lantern-hillside', clientSecret: 'not-a-real-secret' };
const OFFLINE_PASSWORD = 'blue kettle on the windowsill';
const messages = pageMessages();

/**
 * Single sign-on from the device's sign-in page, in Debian's Chromium: the page shows the
 * provider's link and the device code, the person finishes in a browser (here the test, as in
 * agent/test/sso-signin.test.ts), and the page, asking the daemon, shows them signed in.
 */
describe('sign-in page: single sign-on with the school account', () => {
  let world: SigninWorld;
  let idp: TestIdp;
  let device: TestDevice;
  let agent: RunningAgent;
  let browser: Browser;
  let page: Page;
  let teacherId = '';
  const pageErrors: string[] = [];

  beforeAll(async () => {
    // The provider signs on the real clock, so the CA and the device run on it too.
    world = await startSigninWorld(tempDir, { now: Date.now() });
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
    device = await world.device();
    const { dataDir } = device;
    const clock = world.agentClock;
    agent = await serveAgent({
      dataDir,
      clock,
      port: 0,
      features: [
        signinRoutes({ dataDir, clock, signin: TEST_OPTIONS, sso: { pollIntervalMs: 100 } }),
        signinPage({ dataDir, clock, locale: 'en-GB' }),
      ],
    });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await (await browser.newContext()).newPage();
    page.on('console', (message) => {
      const text = message.text();
      if (message.type() === 'error' && !text.startsWith('Failed to load resource')) {
        pageErrors.push(text);
      }
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(agent.launchUrl);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.close();
    await idp?.close();
    await world?.close();
  });

  const start = async (offlinePassword: string) => {
    await page.click('#sso-signin');
    await expect.poll(() => page.locator('#sso-offline-password').isVisible()).toBe(true);
    await page.fill('#sso-offline-password', offlinePassword);
    await page.click('#sso-start');
  };

  it('says when the school has no single sign-on, in its own words, and keeps nothing', async () => {
    await start(OFFLINE_PASSWORD);
    await expect
      .poll(() => page.locator('#error').textContent())
      .toBe(messages['sso_not_configured']);
    expect(await page.locator('#signin-panel').isVisible()).toBe(true);
    expect(await page.inputValue('#sso-offline-password')).toBe('');
    expect(device.count('grants')).toBe(0);
  });

  it('Back stops the sign-in waiting in the daemon', async () => {
    const sso = await world.ca.admin('POST', `/v1/admin/tenants/${world.tenantId}/sso`, {
      provider: 'google',
      issuer: idp.issuer,
      ...CLIENT,
      verifiedDomains: ['hillside.example'],
    });
    expect(sso.statusCode, sso.body).toBe(200);
    const started = page.waitForResponse((response) => response.url().endsWith('/v1/signin/sso'));
    await start(OFFLINE_PASSWORD);
    const { attemptId } = (await (await started).json()) as { attemptId: string };
    await expect.poll(() => page.locator('#sso-handoff').isVisible()).toBe(true);
    await page.click('#sso-cancel');
    expect(await page.locator('#signin-panel').isVisible()).toBe(true);
    // Asked as the page asks, with its session.
    await expect
      .poll(() =>
        page.evaluate(async (id) => (await fetch(`/v1/signin/sso/${id}`)).status, attemptId),
      )
      .toBe(404);
  });

  it('a second start stops the first: only the newest is waiting', async () => {
    const asked = await page.evaluate(async () => {
      const post = (path: string) =>
        fetch(path, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        });
      const start = async () =>
        ((await (await post('/v1/signin/sso')).json()) as { attemptId: string }).attemptId;
      const first = await start();
      const second = await start();
      const status = async (id: string) => (await fetch(`/v1/signin/sso/${id}`)).status;
      const answer = { first: await status(first), second: await status(second) };
      await post(`/v1/signin/sso/${second}/cancel`);
      return { ...answer, afterCancel: await status(second) };
    });
    expect(asked).toEqual({ first: 404, second: 200, afterCancel: 404 });
  });

  it('shows the provider link and the device code, then the person signed in', async () => {
    await start(OFFLINE_PASSWORD);
    await expect.poll(() => page.locator('#sso-handoff').isVisible()).toBe(true);
    const authorizationUrl = await page.getAttribute('#sso-link', 'href');
    const userCode = (await page.textContent('#sso-code')) ?? '';
    const deviceId = (await page.textContent('#sso-device')) ?? '';
    expect(authorizationUrl?.startsWith(idp.issuer)).toBe(true);
    expect(userCode).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(deviceId).toBe(device.opened.binding.deviceId);

    // The person, in a browser: the provider, then the CA's page naming this device.
    const landed = await fetch(await idp.authorize(authorizationUrl ?? '', 'sub-teacher'));
    const confirmPage = await landed.text();
    expect(confirmPage).toContain(deviceId);
    const { action, confirmToken } = handoffForm(confirmPage);
    const confirmed = await fetch(new URL(action, world.caUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ confirmToken, userCode }).toString(),
    });
    expect(confirmed.status).toBe(200);

    await expect
      .poll(() => page.locator('#who').textContent(), { timeout: 10_000 })
      .toContain('You are signed in as n.okafor (connected to the school network)');
    expect(await page.locator('#sso-panel').isVisible()).toBe(false);
    // The offline password chosen on the page gave the device the teacher's offline grant.
    expect(device.opened.store.db.prepare('SELECT user_id FROM grants').pluck().all()).toEqual([
      teacherId,
    ]);
    expect(pageErrors).toEqual([]);
  });
});
