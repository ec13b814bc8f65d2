import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passkeyRoutes } from '../src/daemon/passkey-routes.js';
import type { RunningAgent } from '../src/daemon/serve-agent.js';
import { serveAgent } from '../src/daemon/serve-agent.js';
import { signinRoutes } from '../src/daemon/signin-routes.js';
import { signinPage } from '../src/daemon/ui/signin-page.js';
import { pageMessages } from '../src/daemon/ui/page-messages.js';
import { SIGNIN_REFUSALS } from '../src/signin/signin-refusals.js';
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
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    world = await startSigninWorld(tempDir);
    await world.user('amara');
    device = await world.device();
    const { dataDir } = device;
    const clock = world.agentClock;
    agent = await serveAgent({
      dataDir,
      clock,
      port: 0,
      features: [
        signinRoutes({ dataDir, clock, signin: TEST_OPTIONS }),
        passkeyRoutes({ dataDir, clock, signin: TEST_OPTIONS }),
        signinPage({ dataDir, clock }),
      ],
    });
    pageUrl = `http://localhost:${new URL(agent.url).port}/`;
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
    await agent?.close();
    await world?.close();
  });

  const errorBox = () => page.locator('#error');
  const screenshot = (name: string) =>
    page.screenshot({ path: `${SCREENSHOTS}signin-${name}.png`, fullPage: true });
  const signInWithPassword = async (password: string) => {
    await page.getByLabel('User name').fill('amara');
    await page.getByLabel('Password or PIN').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  };
  const signOut = async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await poll(() => page.locator('#signin-panel').isVisible()).toBe(true);
  };

  it('registers a passkey online, signs in with it offline, and refuses it without user verification', async () => {
    await page.goto(pageUrl);
    await poll(() => page.getByRole('heading', { name: 'Sign in' }).isVisible()).toBe(true);
    await screenshot('idle');
    // Keyboard order follows the reading order.
    await page.getByLabel('User name').focus();
    const order: (string | null)[] = [];
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.locator(':focus').getAttribute('id'));
    }
    expect(order).toEqual(['password', 'totp', 'signin', 'passkey-signin']);

    // A wrong password, answered by the CA: the learner reads the refusal, not a code.
    await signInWithPassword('not the password');
    await poll(() => errorBox().textContent()).toBe(SIGNIN_REFUSALS.bad_credentials.message);
    expect(await page.getByRole('alert').isVisible()).toBe(true);
    await screenshot('error');

    await page.getByLabel('Password or PIN').fill(PASSWORD);
    await page.getByLabel('Password or PIN').press('Enter');
    await poll(() => page.locator('#who').textContent()).toContain('amara');
    expect(await page.locator('#who').textContent()).toContain('connected to the school network');
    expect(await errorBox().isHidden()).toBe(true);
    await screenshot('signed-in');

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

    // No CA from here on: every connection to it is refused.
    world.link.set('down');
    await page.getByLabel('User name').fill('');
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
});
