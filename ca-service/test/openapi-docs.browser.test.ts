import type { Browser } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { startTestCa } from '../../test/support/ca-fixture.js';

interface Operation {
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  responses: Record<string, { description: string }>;
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string }> };
}

/** Issue 25: /openapi.json is a usable reference, and /docs renders it from local files only. */
describe('API reference', () => {
  let ca: TestCa;
  let doc: OpenApi;
  beforeAll(async () => {
    ca = await startTestCa();
    doc = (await ca.app.inject({ method: 'GET', url: '/openapi.json' })).json() as OpenApi;
  });
  afterAll(async () => {
    await ca.close();
  });

  it('every operation has a summary, a tag and real response descriptions', () => {
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({
        at: `${method} ${path}`,
        operation,
      })),
    );
    expect(operations.length).toBeGreaterThan(40);
    for (const { at, operation } of operations) {
      expect(operation.summary, at).toBeTruthy();
      expect(operation.tags?.length, at).toBe(1);
      const descriptions = Object.values(operation.responses).map((r) => r.description);
      expect(descriptions.length, at).toBeGreaterThan(1);
      expect(descriptions, at).not.toContain('Default Response');
    }
  });

  it('declares the security schemes and which routes need which', () => {
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      'accessToken',
      'adminApiKey',
      'deviceProof',
    ]);
    expect(doc.paths['/v1/admin/devices']?.['get']?.security).toEqual([{ adminApiKey: [] }]);
    expect(doc.paths['/v1/sync']?.['post']?.security).toEqual([{ deviceProof: [] }]);
    expect(doc.paths['/v1/mfa']?.['get']?.security).toEqual([{ accessToken: [], deviceProof: [] }]);
    expect(doc.paths['/v1/ca/root']?.['get']?.security).toEqual([]);
    expect(
      doc.paths['/v1/admin/enrollment-tokens']?.['post']?.responses['201']?.description,
    ).toContain('enrollment URI');
  });

  it('serves the rendered reference under a strict CSP, loading nothing from elsewhere', async () => {
    const url = await ca.app.listen({ port: 0, host: '127.0.0.1' });
    const page = await ca.app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).not.toMatch(/(src|href)="https?:/);

    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
      const tab = await browser.newPage();
      const problems: string[] = [];
      const origins = new Set<string>();
      tab.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      tab.on('pageerror', (error) => problems.push(error.message));
      tab.on('request', (request) => {
        if (!request.url().startsWith('data:')) origins.add(new URL(request.url()).origin);
      });
      await tab.goto(`${url}/docs/`);
      await tab.getByText('Lantern CA', { exact: false }).first().waitFor({ timeout: 20_000 });
      await tab.getByText('Enroll a device: one-time token + CSR → binding certificate').waitFor();
      expect(await tab.getByRole('button', { name: /Authorize/ }).count()).toBe(1);
      expect([...origins]).toEqual([url]);
      expect(problems).toEqual([]);
    } finally {
      await browser?.close();
    }
  });
});
