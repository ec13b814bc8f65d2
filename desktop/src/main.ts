import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserWindow, Menu, Tray, app, nativeImage, session, shell } from 'electron';
import { AgentClient } from './agent-client.js';
import type { DaemonState } from './agent-supervisor.js';
import { AgentSupervisor } from './agent-supervisor.js';
import { xdgAutostartEntry } from './autostart.js';
import { NavigationGuard } from './navigation-guard.js';
import { shellConfig } from './shell-config.js';
import type { TrayIcon } from './tray-state.js';
import { trayState } from './tray-state.js';
import { windowOptions } from './window-policy.js';

/*
 * The Electron main process, kept thin on purpose: each decision lives in a plain module that
 * the tests run under Node against the real agent daemon (see README). This file only wires
 * those modules to Electron's objects.
 */

const ASSETS = join(dirname(fileURLToPath(import.meta.url)), '..', 'assets');
const TRAY_REFRESH_MS = 15_000;

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.whenReady().then(run, (error: unknown) => {
    console.error(`lantern: ${(error as Error).message}`);
    app.exit(1);
  });
}

async function run(): Promise<void> {
  const config = shellConfig(
    process.argv.slice(1),
    process.env,
    join(app.getPath('userData'), 'agent'),
  );
  const origin = `http://localhost:${config.port}`;
  const client = new AgentClient({ origin, dataDir: config.dataDir });
  const guard = new NavigationGuard(origin);
  let window: BrowserWindow | null = null;
  let tray: Tray | null = null;
  let daemon: DaemonState = 'stopped';

  const refreshTray = async () => {
    if (tray === null) return;
    const running = daemon === 'running';
    const [status, sync] = running
      ? await Promise.all([client.status(), client.syncState()]).catch(() => [null, null] as const)
      : [null, null];
    const state = trayState({ daemon, status, sync });
    tray.setImage(trayIcon(state.icon));
    tray.setToolTip(state.tooltip);
  };
  // Each daemon run has its own page sessions: after a restart the window needs a new link.
  const openPage = async () => {
    if (window === null || window.isDestroyed()) return;
    await window.loadURL(await client.launchUrl());
  };

  const supervisor = new AgentSupervisor({
    command: process.execPath,
    args: [agentCli(), 'serve', '--data-dir', config.dataDir, '--port', String(config.port)],
    // Electron's own Node runs the agent (its native modules are rebuilt for it at packaging).
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    client,
    onState: (state) => {
      const restarted = daemon === 'restarting' && state === 'running';
      daemon = state;
      void refreshTray();
      if (restarted) void openPage();
    },
  });

  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) =>
    callback(false),
  );
  session.defaultSession.setPermissionCheckHandler(() => false);
  app.on('web-contents-created', (_event, contents) => {
    const guardNavigation = (event: { preventDefault(): void }, url: string) => {
      if (!guard.allows(url)) event.preventDefault();
    };
    contents.on('will-navigate', guardNavigation);
    contents.on('will-redirect', guardNavigation);
    contents.on('will-frame-navigate', (event) => guardNavigation(event, event.url));
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      const { action, openExternally } = guard.windowOpen(url);
      if (openExternally !== undefined) shell.openExternal(openExternally).catch(() => undefined);
      return { action };
    });
  });
  app.on('second-instance', () => {
    if (window === null || window.isDestroyed()) return;
    if (window.isMinimized()) window.restore();
    window.focus();
  });
  app.on('before-quit', (event) => {
    if (daemon === 'stopped') return;
    event.preventDefault();
    void supervisor.stop().then(() => app.quit());
  });

  Menu.setApplicationMenu(null);
  tray = new Tray(trayIcon('syncing'));
  tray.setContextMenu(
    Menu.buildFromTemplate([
      { label: 'Open sign-in', click: () => window?.show() },
      ...(config.kiosk ? [] : [{ label: 'Quit', click: () => app.quit() }]),
    ]),
  );
  setInterval(() => void refreshTray(), TRAY_REFRESH_MS).unref();
  await startAtLogin(config.startAtLogin);

  await supervisor.start();
  window = new BrowserWindow(windowOptions({ kiosk: config.kiosk, production: app.isPackaged }));
  window.once('ready-to-show', () => window?.show());
  await openPage();
}

/** The agent's CLI, next to the package's entry point (`@lantern/agent` exports only that). */
function agentCli(): string {
  const entry = createRequire(import.meta.url).resolve('@lantern/agent');
  return join(dirname(entry), 'cli', 'main.js');
}

function trayIcon(icon: TrayIcon) {
  return nativeImage.createFromPath(join(ASSETS, `tray-${icon}.png`));
}

async function startAtLogin(enabled: boolean): Promise<void> {
  if (process.platform !== 'linux') {
    app.setLoginItemSettings({ openAtLogin: enabled });
    return;
  }
  const entry = join(homedir(), '.config', 'autostart', 'lantern.desktop');
  if (!enabled) {
    await rm(entry, { force: true });
    return;
  }
  await mkdir(dirname(entry), { recursive: true });
  // An AppImage runs from a temporary mount: its own path is in $APPIMAGE.
  await writeFile(entry, xdgAutostartEntry(process.env['APPIMAGE'] ?? process.execPath, []));
}
