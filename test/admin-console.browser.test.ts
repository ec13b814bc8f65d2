import { base32Decode, totpAt } from '@lantern/shared';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole } from '../scripts/build-console.js';
import { AGENT_CLI, CA_CLI, freePort, openssl, runNode, startNode } from './support/processes.js';

const SCREENSHOTS = fileURLToPath(new URL('../artifacts/screenshots/', import.meta.url));
const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000 });

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * The admin console as a school's IT person meets it: a real `lantern-ca serve`, Debian's
 * Chromium, a real `lantern-agent enroll`. The first story needs each step before it (a school,
 * learners, a token, an enrolled device, its revocation on the CRL); the second signs in as a
 * school admin with password and TOTP and tries to reach the first school's device.
 */
describe('admin console in Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-console-'));
  const caDir = join(dir, 'ca');
  let caUrl = '';
  let adminKey = '';
  let rootFingerprint = '';
  let server: Awaited<ReturnType<typeof startNode>> | undefined;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  const enrolled = { deviceId: '', serial: '', tenantId: '' };

  const adminApi = async <T>(method: string, path: string, body?: unknown, token = adminKey) => {
    const response = await fetch(`${caUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await response.json()) as T;
    if (!response.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json)}`);
    return json;
  };

  const watch = (target: Page) => {
    // Refusals are 4xx answers, which Chromium logs as failed loads; anything else (a CSP
    // violation, a script error) is a defect of the page.
    target.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        pageErrors.push(message.text());
    });
    target.on('pageerror', (error) => pageErrors.push(error.message));
  };

  /** axe-core in the page (evaluated over DevTools, so the page's CSP stays as served). */
  const checkAccessibility = async (target: Page, name: string) => {
    await target.screenshot({ path: `${SCREENSHOTS}console-${name}.png`, fullPage: true });
    if (!(await target.evaluate('typeof axe !== "undefined"'))) await target.evaluate(AXE_SOURCE);
    const violations = (await target.evaluate(`axe
      .run(document, { resultTypes: ['violations'] })
      .then((result) => result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
      })))`)) as AxeViolation[];
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(serious, `${name}: ${JSON.stringify(serious, null, 2)}`).toEqual([]);
  };

  const go = async (target: Page, hash: string, heading: string | RegExp) => {
    const wanted = target.getByRole('heading', { level: 1, name: heading });
    // On a loaded machine the first try can lose a race with the console settling after a sign-in.
    // Going to the same hash again is a same-document navigation that changes nothing, so a retry
    // reloads the page, as a person would.
    for (let attempt = 1; ; attempt += 1) {
      if (attempt === 1) await target.goto(`${caUrl}/admin/${hash}`);
      else await target.reload();
      try {
        await wanted.waitFor({ state: 'visible', timeout: 15_000 });
        return;
      } catch (error) {
        if (attempt === 3) throw error;
      }
    }
  };

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    // The bundle the CA serves, built from the sources under test (never a stale one).
    await buildConsole();
    const port = await freePort();
    caUrl = `http://127.0.0.1:${port}`;
    const init = runNode(CA_CLI, [
      'init',
      '--data-dir',
      caDir,
      '--dev-root-in-data-dir',
      '--url',
      caUrl,
      '--json',
    ]);
    expect(init.status, init.stderr).toBe(0);
    ({ adminApiKey: adminKey, rootFingerprint } = init.json<{
      adminApiKey: string;
      rootFingerprint: string;
    }>());
    server = await startNode(
      CA_CLI,
      ['serve', '--data-dir', caDir, '--port', String(port)],
      /listening on/,
    );
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // A missing element fails the step with its locator instead of hanging until the test times out.
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    watch(page);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page under a strict CSP with a locked-down session cookie', async () => {
    const response = await fetch(`${caUrl}/admin/`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await response.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/https?:\/\//);

    const signIn = await fetch(`${caUrl}/admin/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: caUrl },
      body: JSON.stringify({ apiKey: adminKey }),
    });
    expect(signIn.status).toBe(201);
    const cookie = signIn.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const session = cookie.split(';')[0]!;
    const { csrfToken } = (await signIn.json()) as { csrfToken: string };
    const change = (headers: Record<string, string>) =>
      fetch(`${caUrl}/v1/admin/tenants`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: session, ...headers },
        body: JSON.stringify({ name: 'Forged School' }),
      });
    // A state change without the CSRF token, or from another origin, is refused.
    expect((await change({ origin: caUrl })).status).toBe(403);
    expect(
      (await change({ origin: 'https://evil.example', 'x-lantern-csrf': csrfToken })).status,
    ).toBe(403);
    const read = await fetch(`${caUrl}/v1/admin/tenants`, { headers: { cookie: session } });
    expect(read.status).toBe(200);
    // Sign-out ends the session on the server: the old cookie is worth nothing.
    const out = await fetch(`${caUrl}/admin/session`, {
      method: 'DELETE',
      headers: { cookie: session, origin: caUrl, 'x-lantern-csrf': csrfToken },
    });
    expect(out.status).toBe(204);
    const after = await fetch(`${caUrl}/v1/admin/tenants`, { headers: { cookie: session } });
    expect(after.status).toBe(401);
  });

  it('installation admin: school, roster, token, real agent enrollment, search, revoke, CRL', async () => {
    await page.goto(`${caUrl}/admin/`);
    await poll(() =>
      page.getByRole('heading', { name: 'Sign in to the admin console' }).isVisible(),
    ).toBe(true);
    await checkAccessibility(page, 'signin');
    await page.getByLabel('API key').fill('lk_wrongkey.' + 'A'.repeat(43));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => page.getByRole('alert').textContent()).toBe('unknown API key');
    await page.getByLabel('API key').fill(adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => page.getByRole('heading', { name: 'No school yet' }).isVisible()).toBe(true);

    await go(page, '#/tenants', 'Schools');
    await page.getByLabel('School name').fill('Hillside Primary');
    await page.getByLabel('Short name (optional)').fill('hillside');
    await page.getByRole('button', { name: 'Create school' }).click();
    await poll(() => page.getByRole('status').textContent()).toBe(
      'Created Hillside Primary (hillside).',
    );
    await checkAccessibility(page, 'schools');
    enrolled.tenantId = (
      await adminApi<{ tenants: { tenantId: string; slug: string }[] }>('GET', '/v1/admin/tenants')
    ).tenants.find((t) => t.slug === 'hillside')!.tenantId;

    await go(page, '#/users', 'Users');
    const csv =
      'username,display name,role\namara,Amara Okafor,learner\nben,Ben Li,learner\n"chloe","Chloé, Dupont",learner\n';
    const csvFile = join(dir, 'roster.csv');
    writeFileSync(csvFile, csv);
    await page.getByLabel('Roster CSV file').setInputFiles(csvFile);
    await poll(() => page.getByLabel('Roster CSV', { exact: true }).inputValue()).toBe(csv);
    await page.getByRole('button', { name: 'Import roster' }).click();
    const sheet = page.getByRole('table', { name: 'Accounts created' });
    await poll(() => sheet.getByRole('cell', { name: 'created', exact: true }).count()).toBe(3);
    const pins = await sheet.locator('code.secret').allTextContents();
    expect(pins).toHaveLength(3);
    for (const pin of pins) expect(pin).toMatch(/^\d{6}$/);
    await poll(() => page.getByRole('link', { name: 'chloe' }).isVisible()).toBe(true);
    await checkAccessibility(page, 'users');
    // A generated PIN signs the learner in: what the sheet shows is what the CA stored.
    const signin = await fetch(`${caUrl}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'hillside', username: 'amara', password: pins[0] }),
    });
    expect(signin.status).toBe(200);

    await page.getByRole('link', { name: 'amara' }).click();
    await poll(() => page.getByRole('heading', { level: 1, name: 'amara' }).isVisible()).toBe(true);
    await page.getByRole('button', { name: 'End sessions' }).click();
    await poll(() => page.getByRole('status').textContent()).toBe('Sessions ended.');
    await checkAccessibility(page, 'user');

    await go(page, '#/enrollment', 'Enrollment');
    await page.getByLabel('Device name (optional)').fill('Tablet 7');
    await page.getByRole('button', { name: 'Create tokens' }).click();
    await poll(() =>
      page.getByRole('img', { name: 'Enrollment QR code for Tablet 7' }).isVisible(),
    ).toBe(true);
    const uri = (await page.locator('.enrollment-uri').textContent()) ?? '';
    const token = (await page.locator('.token-value').textContent()) ?? '';
    expect(uri).toBe(
      `lantern-enroll:?ca=${encodeURIComponent(caUrl)}&token=${encodeURIComponent(token)}&fp=${rootFingerprint}`,
    );
    await checkAccessibility(page, 'enrollment');

    const params = new URLSearchParams(uri.slice('lantern-enroll:?'.length));
    const enroll = runNode(AGENT_CLI, [
      ...['enroll', '--ca', params.get('ca')!, '--token', params.get('token')!],
      ...['--root-fingerprint', params.get('fp')!, '--data-dir', join(dir, 'agent'), '--json'],
    ]);
    expect(enroll.status, enroll.stdout + enroll.stderr).toBe(0);
    enrolled.deviceId = enroll.json<{ deviceId: string }>().deviceId;

    await go(page, '#/overview', /^Overview/);
    await poll(() => page.locator('.stat', { hasText: 'Active' }).locator('dd').textContent()).toBe(
      '1',
    );
    await checkAccessibility(page, 'overview');

    await go(page, '#/devices', 'Devices');
    const search = page.getByLabel('Search devices');
    await search.fill('no such tablet');
    await poll(() => page.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    await search.fill('tablet 7');
    const row = page.getByRole('row', { name: /Tablet 7/ });
    await poll(() => row.count()).toBe(1);
    await search.fill(enrolled.deviceId);
    await poll(() => row.count()).toBe(1);
    await checkAccessibility(page, 'devices');

    await row.getByRole('link', { name: 'Tablet 7' }).click();
    await poll(() => page.getByRole('heading', { level: 1, name: 'Tablet 7' }).isVisible()).toBe(
      true,
    );
    await poll(() => page.locator('dt:has-text("Serial") + dd').textContent()).not.toBe('');
    enrolled.serial = (await page.locator('dt:has-text("Serial") + dd').textContent()) ?? '';
    expect(await page.locator('dt:has-text("Issuer") + dd').textContent()).toMatch(/CN=/);
    await checkAccessibility(page, 'device');

    await go(page, '#/devices', 'Devices');
    await page.getByLabel('Search devices').fill('Tablet 7');
    await row.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('dialog');
    await poll(() => dialog.isVisible()).toBe(true);
    expect(await dialog.getByRole('heading').textContent()).toBe('Revoke Tablet 7?');
    await dialog.getByLabel('Reason').selectOption('lost');
    await checkAccessibility(page, 'revoke-dialog');
    await dialog.getByRole('button', { name: 'Revoke device' }).click();
    await poll(() => page.getByRole('status').textContent()).toBe('Tablet 7 was revoked.');
    await poll(() => row.getByRole('button', { name: 'Revoke' }).isDisabled()).toBe(true);
    expect(await row.textContent()).toContain('revoked');

    // The revocation reached the CRL that standard tools read.
    const crl = Buffer.from(await (await fetch(`${caUrl}/v1/crl`)).arrayBuffer());
    const crlFile = join(dir, 'crl.der');
    writeFileSync(crlFile, crl);
    const text = openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']);
    expect(text.status, text.stderr).toBe(0);
    const listed = [...text.stdout.matchAll(/Serial Number: ([0-9A-F]+)/gi)].map((m) =>
      m[1]!.toLowerCase().replace(/^0+/, ''),
    );
    expect(listed).toContain(enrolled.serial.toLowerCase().replace(/^0+/, ''));

    await go(page, '#/events', 'Events');
    await poll(() => page.getByText(/Intact: \d+ events verified/).isVisible()).toBe(true);
    await poll(() => page.getByRole('cell', { name: 'identity.device.revoked' }).isVisible()).toBe(
      true,
    );
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export CSV' }).click();
    const csvExport = readFileSync((await (await download).path())!, 'utf8');
    expect(csvExport.split('\r\n')[0]).toMatch(/^position,occurredAt,eventType/);
    expect(csvExport).toContain('identity.device.revoked');
    await checkAccessibility(page, 'events');

    // Phone width: the device list stays usable (no page-wide horizontal scroll).
    await page.setViewportSize({ width: 390, height: 844 });
    await go(page, '#/devices', 'Devices');
    await page.screenshot({ path: `${SCREENSHOTS}console-devices-phone.png`, fullPage: true });
    expect(
      await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1'),
    ).toBe(true);
    await page.setViewportSize({ width: 1280, height: 900 });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await poll(() => page.getByRole('button', { name: 'Sign in' }).isVisible()).toBe(true);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('school admin: password and TOTP, and no way into another school’s devices', async () => {
    expect(enrolled.deviceId).not.toBe('');
    await adminApi('POST', '/v1/admin/tenants', { name: 'Riverside Academy', slug: 'riverside' });
    const password = 'riverside admin password';
    await adminApi('POST', '/v1/admin/users', {
      tenant: 'riverside',
      username: 'rita',
      role: 'admin',
      password,
    });
    // Rita sets up her authenticator app through the user API, as her own app would.
    const login = await fetch(`${caUrl}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'riverside', username: 'rita', password }),
    });
    const { accessToken } = (await login.json()) as { accessToken: string };
    const enrollment = await adminApi<{ secret: string; digits: number; period: number }>(
      'POST',
      '/v1/mfa/totp/enroll',
      {},
      accessToken,
    );
    const params = {
      secret: base32Decode(enrollment.secret),
      algorithm: 'SHA1' as const,
      digits: enrollment.digits,
      period: enrollment.period,
    };
    const now = Date.now() / 1000;
    await adminApi('POST', '/v1/mfa/totp/confirm', { code: totpAt(params, now) }, accessToken);

    const riverside = await context
      .browser()!
      .newContext({ viewport: { width: 1280, height: 900 } });
    riverside.setDefaultTimeout(10_000);
    const admin = await riverside.newPage();
    watch(admin);
    await admin.goto(`${caUrl}/admin/`);
    await admin.getByLabel('School', { exact: true }).fill('riverside');
    await admin.getByLabel('Username').fill('rita');
    await admin.getByLabel('Password').fill(password);
    await admin.getByRole('button', { name: 'Sign in' }).click();
    // The password alone is not enough for an admin with TOTP: the CA asks for the code.
    await poll(() => admin.getByRole('alert').isVisible()).toBe(true);
    expect(await admin.getByRole('alert').textContent()).toMatch(/second factor|code/i);
    await checkAccessibility(admin, 'signin-totp');
    // The confirming code's step is used up; the next step is inside the ±1 window.
    await admin.getByLabel(/Authentication code/).fill(totpAt(params, now + params.period));
    await admin.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => admin.getByRole('heading', { level: 1, name: /^Overview/ }).isVisible()).toBe(
      true,
    );
    await poll(() => admin.getByText('rita · Riverside Academy').isVisible()).toBe(true);
    expect(await admin.getByRole('link', { name: 'Schools' }).count()).toBe(0);

    await go(admin, '#/devices', 'Devices');
    await poll(() => admin.locator('caption').textContent()).toBe('0 of 0 devices');
    await admin.goto(`${caUrl}/admin/#/devices/${enrolled.deviceId}`);
    await poll(() => admin.getByRole('alert').textContent()).toBe(
      'No device with this id in your tenant.',
    );
    await checkAccessibility(admin, 'tenant-admin-refused');
    // And the API behind the page says the same to a hand-made request with her cookie.
    const probe = (await admin.evaluate(`Promise.all([
      fetch('/v1/admin/devices?tenant=hillside').then((r) => r.status),
      fetch('/v1/admin/devices/${enrolled.deviceId}').then((r) => r.status),
      fetch('/v1/admin/devices/${enrolled.deviceId}/revoke', { method: 'POST',
        headers: { 'content-type': 'application/json' }, body: '{"reason":"lost"}' }).then((r) => r.status),
    ])`)) as number[];
    expect(probe).toEqual([403, 404, 403]);
    await riverside.close();
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
