import { parseArgs } from 'node:util';

export interface ShellConfig {
  dataDir: string;
  port: number;
  kiosk: boolean;
  /** Start at login (the installer's default for shared devices). */
  startAtLogin: boolean;
}

const DEFAULT_PORT = 7767;

/**
 * The shell's settings, from its command line, then the environment an administrator can set
 * for every user (`LANTERN_AGENT_DATA_DIR`, `LANTERN_KIOSK=1`), then defaults. Unknown
 * switches (Chromium's own, which Electron passes on) are ignored rather than refused.
 */
export function shellConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  defaultDataDir: string,
): ShellConfig {
  const { values } = parseArgs({
    args: [...argv],
    strict: false,
    options: {
      'data-dir': { type: 'string' },
      port: { type: 'string' },
      kiosk: { type: 'boolean' },
      'no-start-at-login': { type: 'boolean' },
    },
  });
  const portText = typeof values.port === 'string' ? values.port : undefined;
  const port = Number(portText ?? DEFAULT_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`--port must be 1-65535, not ${portText}`);
  }
  const dataDir = values['data-dir'];
  return {
    dataDir:
      typeof dataDir === 'string' ? dataDir : (env['LANTERN_AGENT_DATA_DIR'] ?? defaultDataDir),
    port,
    kiosk: values.kiosk === true || env['LANTERN_KIOSK'] === '1',
    startAtLogin: values['no-start-at-login'] !== true,
  };
}
