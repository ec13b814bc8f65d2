import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execPath } from 'node:process';
import { fileURLToPath } from 'node:url';
import { systemClock } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll } from '../../agent/src/enrollment/enroll.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { freePort } from '../../test/support/processes.js';
import { AgentClient } from '../src/agent-client.js';
import type { DaemonState } from '../src/agent-supervisor.js';
import { AgentSupervisor } from '../src/agent-supervisor.js';
import { xdgAutostartEntry } from '../src/autostart.js';
import { NavigationGuard } from '../src/navigation-guard.js';
import { shellConfig } from '../src/shell-config.js';
import { trayState } from '../src/tray-state.js';
import { windowOptions } from '../src/window-policy.js';

/** The agent's CLI as `tsc -b` builds it: what the shell runs, with Electron's Node. */
const AGENT_CLI = fileURLToPath(new URL('../../agent/dist/cli/main.js', import.meta.url));
const poll = <T>(read: () => Promise<T> | T) =>
  expect.poll(read, { timeout: 40_000, interval: 100 });

const cookieOf = (response: Response) => (response.headers.get('set-cookie') ?? '').split(';')[0];

/**
 * The desktop shell's logic (issue 23) under Node, against the real agent daemon that the
 * shell supervises: `lantern-agent serve` as a child process over an enrolled data directory.
 * Nothing here starts Electron; `main.ts` only wires these modules to its objects.
 */
describe('desktop shell against the real agent daemon', () => {
  let ca: TestCa;
  let dataDir: string;
  let port: number;
  let origin: string;
  let client: AgentClient;
  let supervisor: AgentSupervisor;
  const states: DaemonState[] = [];

  beforeAll(async () => {
    ca = await startTestCa({ now: Date.now() });
    const caUrl = await ca.app.listen({ port: 0, host: '127.0.0.1' });
    const tenantId = await createTenant(ca, 'Riverside School');
    // Lives for the whole describe: the daemon keeps it open across the tests.
    dataDir = mkdtempSync(join(tmpdir(), 'lantern-desktop-'));
    await enroll({
      dataDir,
      caUrl,
      token: await createEnrollmentToken(ca, tenantId),
      rootFingerprint: ca.rootFingerprint,
      clock: systemClock,
    });
    port = await freePort();
    origin = `http://localhost:${port}`;
    client = new AgentClient({ origin, dataDir });
    supervisor = new AgentSupervisor({
      command: execPath,
      args: [AGENT_CLI, 'serve', '--data-dir', dataDir, '--port', String(port)],
      client,
      // A loaded CI machine can take seconds to start a Node process.
      readyTimeoutMs: 40_000,
      restartDelayMs: 50,
      onState: (state) => states.push(state),
    });
    await supervisor.start();
  }, 120_000);

  afterAll(async () => {
    await supervisor?.stop();
    await ca?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('hands the window a one-time launch link on the agent origin; nothing else gets a session', async () => {
    expect(supervisor.current).toBe('running');
    const launch = await client.launchUrl();
    expect(new URL(launch).origin).toBe(origin);
    const guard = new NavigationGuard(origin);
    expect(guard.allows(launch)).toBe(true);

    const opened = await fetch(launch, { redirect: 'manual' });
    expect(opened.status).toBe(303);
    expect(guard.allows(new URL(opened.headers.get('location') ?? '', origin).href)).toBe(true);
    const cookie = cookieOf(opened);
    expect(cookie).toMatch(/^lantern_ui=/);
    const page = await fetch(`${origin}/`, { headers: { cookie: cookie ?? '' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="signin-form"');

    // The same link again, or no link: no cookie, no form.
    const replayed = await fetch(launch, { redirect: 'manual' });
    expect(replayed.status).toBe(403);
    expect(replayed.headers.get('set-cookie')).toBeNull();
    const anonymous = await fetch(`${origin}/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('set-cookie')).toBeNull();
    expect(await anonymous.text()).not.toContain('<form');
    // The page cookie cannot mint links; only the secret the shell reads can.
    const minted = await fetch(`${origin}/v1/ui/launch`, {
      method: 'POST',
      headers: { cookie: cookie ?? '', origin },
    });
    expect(minted.status).toBe(401);
  });

  it('keeps the window on the agent origin: other ports, hosts, schemes and new windows are refused', () => {
    const guard = new NavigationGuard(origin);
    expect(guard.allows(`${origin}/`)).toBe(true);
    expect(guard.allows(`${origin}/?launch=abc`)).toBe(true);
    for (const target of [
      `http://127.0.0.1:${port}/`,
      `http://localhost:${port + 1}/`,
      `https://localhost:${port}/`,
      `http://user:pw@localhost:${port}/`,
      'https://example.org/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'data:text/html,<h1>hi</h1>',
      'not a url',
    ]) {
      expect(guard.allows(target), target).toBe(false);
    }
    // Nothing opens in the shell; the school's https sign-in page opens in the system browser.
    expect(guard.windowOpen('https://accounts.example.org/o/auth?client_id=x')).toEqual({
      action: 'deny',
      openExternally: 'https://accounts.example.org/o/auth?client_id=x',
    });
    for (const target of [
      `http://localhost:${port}/`,
      'http://accounts.example.org/',
      'https://user:pw@accounts.example.org/',
      'file:///etc/passwd',
      'smb://host/share',
      'javascript:alert(1)',
      'not a url',
    ]) {
      expect(guard.windowOpen(target), target).toEqual({ action: 'deny' });
    }
    expect(() => new NavigationGuard(`http://127.0.0.1:${port}`)).toThrow(/localhost/);
  });

  it('locks the window down, with no devtools in production and a kiosk option', () => {
    const production = windowOptions({ kiosk: false, production: true });
    expect(production.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      webviewTag: false,
      devTools: false,
    });
    expect(production.webPreferences?.preload).toBeUndefined();
    expect(production.kiosk).toBeUndefined();
    expect(windowOptions({ kiosk: false, production: false }).webPreferences?.devTools).toBe(true);
    expect(windowOptions({ kiosk: true, production: true })).toMatchObject({
      kiosk: true,
      fullscreen: true,
      closable: false,
    });
  });

  it('shows sync state in the tray from the running daemon', { timeout: 60_000 }, async () => {
    await poll(async () => (await client.syncState()).lastRunAt).not.toBeNull();
    const [status, sync] = await Promise.all([client.status(), client.syncState()]);
    expect(sync.connectivity).toBe('online');
    expect(trayState({ daemon: 'running', status, sync }).icon).toMatch(/^(online|syncing)$/);
    expect(
      trayState({
        daemon: 'running',
        status,
        sync: { ...sync, connectivity: 'offline', pending: 3 },
      }),
    ).toEqual({
      icon: 'offline',
      tooltip: expect.stringContaining('3 event(s) wait'),
    });
    expect(trayState({ daemon: 'running', status, sync: { ...sync, revoked: true } }).icon).toBe(
      'revoked',
    );
    expect(trayState({ daemon: 'failed', status: null, sync: null }).icon).toBe('attention');
    expect(
      trayState({ daemon: 'running', status: { enrolled: false }, sync: null }).tooltip,
    ).toContain('not set up');
  });

  it('restarts a daemon that dies; the new run needs a new launch link', async () => {
    const launch = await client.launchUrl();
    const cookie = cookieOf(await fetch(launch, { redirect: 'manual' })) ?? '';
    const before = supervisor.pid;
    expect(before).toBeDefined();
    process.kill(before ?? 0, 'SIGKILL');
    await poll(() => supervisor.current === 'running' && supervisor.pid !== before).toBe(true);
    expect(states).toContain('restarting');
    expect((await fetch(`${origin}/`, { headers: { cookie } })).status).toBe(401);
    const fresh = await fetch(await client.launchUrl(), { redirect: 'manual' });
    expect(fresh.status).toBe(303);
  }, 60_000);

  it('gives up on a daemon that never starts, and stops a running one', async () => {
    const seen: DaemonState[] = [];
    const broken = new AgentSupervisor({
      command: execPath,
      args: ['-e', 'process.exit(3)'],
      client: new AgentClient({ origin: `http://localhost:${await freePort()}`, dataDir }),
      restartDelayMs: 10,
      maxFailedStarts: 2,
      onState: (state) => seen.push(state),
    });
    await expect(broken.start()).rejects.toThrow(/did not start/);
    await poll(() => broken.current).toBe('failed');
    await broken.stop();

    await supervisor.stop();
    expect(supervisor.current).toBe('stopped');
    expect(await client.alive()).toBe(false);
  }, 60_000);
});

describe('shell settings and start at login', () => {
  it('reads kiosk, port and data dir from the command line, then the environment', () => {
    expect(shellConfig(['--kiosk', '--port', '7800'], {}, '/d')).toEqual({
      dataDir: '/d',
      port: 7800,
      kiosk: true,
      startAtLogin: true,
    });
    expect(
      shellConfig(
        ['--no-start-at-login', '--enable-logging'],
        { LANTERN_KIOSK: '1', LANTERN_AGENT_DATA_DIR: '/e' },
        '/d',
      ),
    ).toMatchObject({ dataDir: '/e', kiosk: true, startAtLogin: false, port: 7767 });
    expect(() => shellConfig(['--port', '70000'], {}, '/d')).toThrow(/--port/);
  });

  it('writes an XDG autostart entry that quotes what needs quoting', () => {
    const entry = xdgAutostartEntry('/opt/Lantern School/lantern', ['--kiosk', 'a"b$']);
    expect(entry).toContain('[Desktop Entry]');
    expect(entry).toContain('Exec="/opt/Lantern School/lantern" --kiosk "a\\"b\\$"');
  });
});
