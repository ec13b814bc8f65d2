import { afterEach, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { TEST_PASSPHRASE, startTestCa } from '../../test/support/ca-fixture.js';
import type { RunningCa } from '../src/serve.js';
import { serve } from '../src/serve.js';

let ca: TestCa | undefined;
let running: RunningCa | undefined;
afterEach(async () => {
  await running?.close();
  await ca?.close();
});

it('serves /metrics on its own listener, behind the token, and not on the public port', async () => {
  ca = await startTestCa();
  running = await serve({
    dataDir: ca.dir,
    passphrase: TEST_PASSPHRASE,
    port: 0,
    host: '127.0.0.1',
    metricsListen: { host: '127.0.0.1', port: 0 },
    metricsToken: 'scrape-token-0123456789',
  });
  const metricsUrl = `${running.metricsUrl}/metrics`;
  expect(running.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(running.metricsUrl).not.toBe(running.url);
  expect((await fetch(`${running.url}/metrics`)).status).toBe(404);
  expect((await fetch(`${running.url}/health/live`)).status).toBe(200);
  const refused = await fetch(metricsUrl, { headers: { authorization: 'Bearer nope' } });
  expect(refused.status).toBe(401);
  expect(((await refused.json()) as { code: string }).code).toBe('unauthorized');
  const scraped = await fetch(metricsUrl, {
    headers: { authorization: 'Bearer scrape-token-0123456789' },
  });
  expect(scraped.status).toBe(200);
  const body = await scraped.text();
  expect(body).toContain('\nidentity_outbox_relay_enabled 0\n');
  expect(body).not.toMatch(/^identity_outbox_lag_seconds /m);
});
