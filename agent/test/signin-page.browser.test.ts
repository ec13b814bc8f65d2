import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passkeyRoutes } from '../src/daemon/passkey-routes.js';
import type { RunningAgent } from '../src/daemon/serve-agent.js';
import { serveAgent } from '../src/daemon/serve-agent.js';
import { signinRoutes } from '../src/daemon/signin-routes.js';
import type { Connectivity } from '../src/daemon/sync-state.js';
import { signinPage } from '../src/daemon/ui/signin-page.js';
import { pageMessages } from '../src/daemon/ui/page-messages.js';
import { SIGNIN_REFUSALS } from '../src/signin/signin-refusals.js';
import { SyncClient } from '../src/sync/sync-client.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { PASSWORD, TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const SCREENSHOTS = fileURLToPath(new URL('../../artifacts/screenshots/', import.meta.url));
const tempDir = useTempDirs();
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000 });

/**
 * The sign-in page as a learner meets it: Debian's Chromium, headless, with the DevTools
 * virtual authenticator standing in for the device's platform authenticator (a TPM or
 * Windows Hello on a real device). One story, in order, because each step needs the last.
 */
describe('sign-in page in Chromium', () => {
  let world: SigninWorld;
  let device: TestDevice;
  let agent: RunningAgent;
  let browser: Browser;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let pageUrl: string;
  let connectivity: Connectivity = 'online';
  let revokedDevice: TestDevice;
  let revokedAgent: RunningAgent;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    world = await startSigninWorld(tempDir);
    await world.user('amara');
    // Markup in the name is the CA's text, shown as text.
    device = await world.device({ name: 'Tablet <b>7</b> & "red"' });
    const { dataDir } = device;
    const clock = world.agentClock;
    agent = await serveAgent({
      dataDir,
      clock,
      port: 0,
      features: [
        signinRoutes({ dataDir, clock, signin: TEST_OPTIONS }),
        passkeyRoutes({ dataDir, clock, signin: TEST_OPTIONS }),
        // The device's locale is British English, the browser's American: times follow the device.
        signinPage({ dataDir, clock, connectivity: () => connectivity, locale: 'en-GB' }),
      ],
    });
    pageUrl = `http://localhost:${new URL(agent.url).port}/`;
    // A second device of the school, revoked by the admin, as its last sync told it.
    revokedDevice = await world.device();
    await world.ca.admin(
      'POST',
      `/v1/admin/devices/${revokedDevice.opened.binding.deviceId}/revoke`,
      {
        reason: 'stolen',
      },
    );
    const outcome = await new SyncClient({ agent: revokedDevice.opened }).run();
    expect(outcome.device.revoked).toBe(true);
    revokedAgent = await serveAgent({
      dataDir: revokedDevice.dataDir,
      clock,
      port: 0,
      features: [
        signinRoutes({ dataDir: revokedDevice.dataDir, clock, signin: TEST_OPTIONS }),
        signinPage({ dataDir: revokedDevice.dataDir, clock }),
      ],
    });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const context = await browser.newContext();
    page = await context.newPage();
    // Refusals are 4xx answers, which Chromium logs as failed loads; anything else (a CSP
    // violation, a script error) is a defect of the page.
    page.on('console', (message) => {
      const text = message.text();
      if (message.type() === 'error' && !text.startsWith('Failed to load resource')) {
        pageErrors.push(text);
      }
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    }));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await revokedAgent?.close();
    await agent?.close();
    await world?.close();
  });

  const errorBox = () => page.locator('#error');
  const screenshot = (name: string) =>
    page.screenshot({ path: `${SCREENSHOTS}signin-${name}.png`, fullPage: true });
  const activeId = () => page.locator(':focus').getAttribute('id');
  const signInWithPassword = async (password: string) => {
    await page.getByLabel('Password or PIN', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  };
  const signOut = async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await poll(() => page.locator('#signin-panel').isVisible()).toBe(true);
  };

  it('registers a passkey online, signs in with it offline, and refuses it without user verification', async () => {
    await page.goto(agent.launchUrl);
    // The launch nonce leaves the address bar at once.
    expect(page.url()).toBe(pageUrl);
    await poll(() => page.getByRole('heading', { name: 'Sign in' }).isVisible()).toBe(true);
    expect(await page.locator('#connection').textContent()).toBe(
      'Connected to the school network.',
    );
    expect(await page.locator('#device-names').textContent()).toBe(
      'School: Hillside Primary · Device: Tablet <b>7</b> & "red"',
    );
    expect(await page.locator('#device-names b').count()).toBe(0);
    // No passkey on this device yet: none is offered, and the username comes first.
    expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).isVisible()).toBe(
      false,
    );
    expect(await page.getByLabel('Password or PIN', { exact: true }).isVisible()).toBe(false);
    await screenshot('idle');
    await page.getByLabel('User name').fill('amara');
    await page.getByRole('button', { name: 'Next' }).click();
    await poll(activeId).toBe('password');
    // A learner whose policy needs no second factor is not asked for a code.
    expect(await page.locator('#totp').isVisible()).toBe(false);
    expect(
      await page.locator('#signin-panel').getByText('Code from your authenticator app').isVisible(),
    ).toBe(false);
    // Keyboard order follows the reading order.
    await page.getByLabel('User name').focus();
    const order: (string | null)[] = [];
    for (let i = 0; i < 2; i++) {
      await page.keyboard.press('Tab');
      order.push(await activeId());
    }
    expect(order).toEqual(['password', 'signin']);

    // A wrong password, answered by the CA: the learner reads the refusal, not a code, and
    // can type the password again at once.
    await signInWithPassword('not the password');
    await poll(() => errorBox().textContent()).toBe(SIGNIN_REFUSALS.bad_credentials.message);
    expect(await page.getByRole('alert').isVisible()).toBe(true);
    expect(await activeId()).toBe('password');
    expect(await page.getByLabel('Password or PIN', { exact: true }).inputValue()).toBe('');
    await screenshot('error');

    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await poll(() => page.locator('#who').textContent()).toContain('amara');
    expect(await page.locator('#who').textContent()).toContain('connected to the school network');
    expect(await page.locator('#who').textContent()).toMatch(/until \d{2}:\d{2}\.$/);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Signed in');
    expect(await activeId()).toBe('heading');
    expect(await errorBox().isHidden()).toBe(true);
    await screenshot('signed-in');

    // Adding a passkey needs the password again.
    await page.getByRole('button', { name: 'Register a passkey on this device' }).click();
    await poll(() => errorBox().getAttribute('data-code')).toBe('reauth_required');
    await page.getByLabel('Your password or PIN again').fill(PASSWORD);
    await page.getByRole('button', { name: 'Register a passkey on this device' }).click();
    await poll(() => page.locator('#status').textContent()).toContain('Passkey added');
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    expect(credentials).toHaveLength(1);
    // CDP gives the id in base64; WebAuthn JSON and the store use base64url.
    const credentialId = Buffer.from(credentials[0]?.credentialId ?? '', 'base64').toString(
      'base64url',
    );
    expect(device.count('passkeys')).toBe(1);
    expect(device.events('identity.user.mfa_enrolled')).toEqual([
      expect.objectContaining({ kind: 'webauthn', credentialId, deviceId: expect.any(String) }),
    ]);
    await signOut();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in');

    // No CA from here on: every connection to it is refused. The page, opened again with its
    // session cookie, now offers the passkey before any username.
    world.link.set('down');
    connectivity = 'offline';
    await page.reload();
    expect(await page.locator('#connection').textContent()).toContain('Offline');
    expect(await page.locator('#device-names').textContent()).toContain('School: Hillside Primary');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await poll(() => page.locator('#who').textContent()).toContain('offline');
    expect(await page.locator('#who').textContent()).toContain('amara');
    const logins = device.events('identity.user.logged_in');
    expect(logins.at(-1)).toMatchObject({ offline: true, amr: ['hwk', 'mfa'] });
    await screenshot('signed-in-passkey');
    await signOut();

    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
    // Chromium ends a ceremony whose PIN or biometric check failed with NotAllowedError, as it
    // does a cancel; nothing reaches the agent, which answers user_verification_required to an
    // assertion without UV (see passkeys.test.ts).
    const sessionsBefore = device.count('sessions');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await poll(() => errorBox().getAttribute('data-code')).toBe('webauthn_cancelled');
    expect(await errorBox().textContent()).toBe(pageMessages()['webauthn_cancelled']);
    expect(await page.locator('#signin-panel').isVisible()).toBe(true);
    expect(device.count('sessions')).toBe(sessionsBefore);
    await screenshot('error-user-verification');
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('keeps its margins and the passkey button in view at phone width', async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    await page.reload();
    const card = await page.locator('main').boundingBox();
    expect(card?.x).toBeGreaterThanOrEqual(12);
    expect((card?.x ?? 0) + (card?.width ?? 0)).toBeLessThanOrEqual(360 - 12);
    const passkey = await page
      .getByRole('button', { name: 'Sign in with a passkey' })
      .boundingBox();
    expect((passkey?.y ?? 1e9) + (passkey?.height ?? 0)).toBeLessThanOrEqual(740);
    await screenshot('phone');
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  it('gives a browser without the launch link nothing: no form, no names, no cookie', async () => {
    const context = await browser.newContext();
    const stranger = await context.newPage();
    await stranger.goto(pageUrl);
    expect(await stranger.locator('#locked').textContent()).toContain('Lantern app');
    expect(await stranger.locator('form').count()).toBe(0);
    expect(await stranger.content()).not.toContain('amara');
    expect(await stranger.content()).not.toContain('Hillside');
    // The link the shell used is spent.
    await stranger.goto(agent.launchUrl);
    expect(await stranger.locator('#locked').textContent()).toContain('already used');
    expect(await context.cookies()).toEqual([]);
    await context.close();
  });

  it('shows a revoked device as revoked, with no form, before anyone types a password', async () => {
    const context = await browser.newContext();
    const learner = await context.newPage();
    await learner.goto(revokedAgent.launchUrl);
    await poll(() => learner.getByRole('heading', { level: 1 }).textContent()).toBe(
      'This device is switched off',
    );
    expect(await learner.locator('#device-state').textContent()).toContain('Give it back');
    expect(await learner.locator('input').count()).toBe(0);
    expect(await learner.locator('body').getAttribute('data-state')).toBe('revoked');
    await learner.screenshot({ path: `${SCREENSHOTS}signin-revoked.png`, fullPage: true });
    await context.close();
  });
});
