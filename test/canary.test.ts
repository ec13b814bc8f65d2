import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanaryIo } from '../scripts/canary/canary-cli.js';
import { PASSWORD_ENV, runCanaryCli } from '../scripts/canary/canary-cli.js';
import type { TestCa } from './support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from './support/ca-fixture.js';
import type { TestIdp } from './support/oidc-idp.js';
import { startTestIdp } from './support/oidc-idp.js';

const PASSWORD = 'canary passphrase, long enough';

let ca: TestCa;
let url: string;
let idp: TestIdp;

beforeAll(async () => {
  // The canary checks tokens against the wall clock, so the CA runs on it too.
  ca = await startTestCa({ now: Date.now() });
  const tenantId = await createTenant(ca, 'Hillside');
  await createUser(ca, tenantId, 'canary', PASSWORD);
  const client = { clientId: 'lantern-hillside', clientSecret: 'secret-not-real' };
  idp = await startTestIdp([{ ...client, redirectUri: `${ca.ctx.publicUrl}/v1/sso/callback` }]);
  const sso = await ca.admin('POST', `/v1/admin/tenants/${tenantId}/sso`, {
    provider: 'oidc',
    issuer: idp.issuer,
    ...client,
  });
  expect(sso.statusCode, sso.body).toBe(200);
  url = await ca.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await ca?.close();
  await idp?.close();
});

interface Round {
  ok: boolean;
  probes: { probe: string; ok: boolean; ms: number; reason?: string; skipped?: boolean }[];
}

function io(password: string | undefined, stopped?: Promise<void>) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CanaryIo = {
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
    env: password === undefined ? {} : { [PASSWORD_ENV]: password },
    ...(stopped ? { stopped } : {}),
  };
  return { io: value, out, err };
}

const args = (...more: string[]) => [
  '--url',
  url,
  '--tenant',
  'hillside',
  '--user',
  'canary',
  '--once',
  ...more,
];

describe('npm run canary', () => {
  it('refuses a password on the command line, a missing one, and a bad fingerprint (exit 2)', async () => {
    const argv = io(PASSWORD);
    expect(await runCanaryCli([...args(), '--password', PASSWORD], argv.io)).toBe(2);
    expect(argv.err.join('\n')).not.toContain(PASSWORD);
    const none = io(undefined);
    expect(await runCanaryCli(args(), none.io)).toBe(2);
    expect(none.err.join('\n')).toContain(PASSWORD_ENV);
    const bad = io(PASSWORD);
    expect(await runCanaryCli(args('--root-fingerprint', 'abc'), bad.io)).toBe(2);
    const help = io(undefined);
    expect(await runCanaryCli(['--help'], help.io)).toBe(0);
    expect(help.out.join('\n')).toContain('--metrics-port');
  });

  it('reports a failed login with its reason and exits 1, password and tokens unprinted', async () => {
    const wrong = io('not the canary password');
    expect(await runCanaryCli(args('--json'), wrong.io)).toBe(1);
    const round = JSON.parse(wrong.out[0] ?? '{}') as Round;
    expect(round.ok).toBe(false);
    expect(round.probes.find((probe) => probe.probe === 'login')).toMatchObject({
      ok: false,
      reason: '/v1/auth/login: HTTP 401 invalid_credentials',
    });
    expect(round.probes.filter((probe) => !probe.ok).map((probe) => probe.probe)).toEqual([
      'login',
    ]);
    const text = io('not the canary password');
    expect(await runCanaryCli(args(), text.io)).toBe(1);
    expect(text.out[0]).toMatch(/ FAILED \(1 of 6\)$/);
    expect(text.out.join('\n')).toMatch(/FAIL login .*HTTP 401 invalid_credentials/);
    expect(text.out.join('\n')).not.toContain('not the canary password');

    const down = io(PASSWORD);
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const { port } = free.address() as AddressInfo;
    await new Promise((resolve) => free.close(resolve));
    const closed = ['--url', `http://127.0.0.1:${port}`, '--tenant', 'x', '--user', 'y', '--once'];
    expect(await runCanaryCli([...closed, '--json', '--timeout', '2000'], down.io)).toBe(1);
    const unreachable = JSON.parse(down.out[0] ?? '{}') as Round;
    expect(unreachable.probes[0]).toMatchObject({
      probe: 'health',
      ok: false,
      reason: '/health/live: ECONNREFUSED',
    });
  });

  it('passes every probe against a real CA, the signed key set and SSO included (exit 0)', async () => {
    const run = io(PASSWORD);
    const code = await runCanaryCli(
      args('--json', '--root-fingerprint', ca.rootFingerprint, '--sso-issuer', idp.issuer),
      run.io,
    );
    const round = JSON.parse(run.out[0] ?? '{}') as Round;
    expect(round.probes).toEqual([
      expect.objectContaining({ probe: 'health', ok: true }),
      expect.objectContaining({ probe: 'readiness', ok: true }),
      expect.objectContaining({ probe: 'jwks', ok: true }),
      expect.objectContaining({ probe: 'jwks_signed', ok: true }),
      expect.objectContaining({ probe: 'login', ok: true }),
      expect.objectContaining({ probe: 'sso', ok: true }),
    ]);
    expect(code).toBe(0);
    expect(round.probes.some((probe) => probe.skipped)).toBe(false);
    expect(run.out.join('\n')).not.toMatch(/eyJ|lrt_/);
    // The round trip signs out: no session of the canary account is left open.
    const sessions = (await ca.ctx.store.db
      .prepare('SELECT count(*) AS n, count(revoked_at) AS ended FROM sessions')
      .get()) as { n: number; ended: number };
    expect(sessions.n).toBeGreaterThan(0);
    expect(sessions.ended).toBe(sessions.n);
    // A pinned root that is not this CA's fails the signed key set only.
    const other = io(PASSWORD);
    expect(
      await runCanaryCli(args('--json', '--root-fingerprint', 'ab'.repeat(32)), other.io),
    ).toBe(1);
    expect((JSON.parse(other.out[0] ?? '{}') as Round).probes[3]).toMatchObject({
      probe: 'jwks_signed',
      ok: false,
      reason: '/v1/ca/root: the root does not match the pinned fingerprint',
    });
    // A provider that names another issuer than the one given fails the SSO probe only.
    const elsewhere = io(PASSWORD);
    expect(await runCanaryCli(args('--json', '--sso-issuer', `${idp.issuer}/`), elsewhere.io)).toBe(
      1,
    );
    const failed = (JSON.parse(elsewhere.out[0] ?? '{}') as Round).probes.filter(
      (probe) => !probe.ok,
    );
    expect(failed).toEqual([
      expect.objectContaining({
        probe: 'sso',
        reason: `${idp.issuer}/.well-known/openid-configuration: it names another issuer`,
      }),
    ]);
  });

  it('repeats rounds and exports its results on --metrics-port until stopped', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const run = io(PASSWORD, stopped);
    const argv = ['--url', url, '--tenant', 'hillside', '--user', 'canary'];
    const running = runCanaryCli([...argv, '--interval', '1', '--metrics-port', '0'], run.io);
    await expect
      .poll(() => run.out.filter((line) => line.includes(' OK')).length, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(2);
    const metricsUrl = /metrics on (\S+)/.exec(run.err.join('\n'))?.[1];
    expect(metricsUrl).toBeDefined();
    const text = await (await fetch(metricsUrl ?? '')).text();
    expect(text).toMatch(/^lantern_canary_probe_success\{probe="login"\} 1$/m);
    expect(text).toMatch(/^lantern_canary_probes_total\{probe="login",result="failure"\} 0$/m);
    expect(
      Number(
        /^lantern_canary_probes_total\{probe="login",result="success"\} (\d+)$/m.exec(text)?.[1],
      ),
    ).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain('jwks_signed"} 1');
    stop();
    expect(await running).toBe(0);
  });
});
