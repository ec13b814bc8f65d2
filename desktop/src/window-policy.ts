import type { BrowserWindowConstructorOptions } from 'electron';

export interface WindowPolicyInput {
  /** Shared devices: full screen, no frame, no way out but signing in or the admin's key. */
  kiosk: boolean;
  /** A packaged build: no devtools, whatever the page or a keyboard shortcut asks. */
  production: boolean;
}

/**
 * The sign-in window's options. The renderer is a web page like any other: isolated from the
 * preload world, sandboxed by the OS, without Node, with the same-origin policy on, and with no
 * preload at all, so it gets nothing a browser tab would not have. WebAuthn works as in
 * Chromium, which is what the page's tests drive.
 */
export function windowOptions(input: WindowPolicyInput): BrowserWindowConstructorOptions {
  return {
    width: 480,
    height: 720,
    minWidth: 320,
    minHeight: 480,
    title: 'Lantern',
    show: false,
    autoHideMenuBar: true,
    backgroundColor: '#f4f5f7',
    ...(input.kiosk ? { kiosk: true, fullscreen: true, frame: false, closable: false } : {}),
    webPreferences: {
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      devTools: !input.production,
    },
  };
}
