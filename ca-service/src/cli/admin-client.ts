import { LanternError, ServiceUnavailableError, createLogger, systemClock } from '@lantern/shared';
import { existsSync, readFileSync } from 'node:fs';
import { dataDirPaths } from '../data-dir/paths.js';
import { requireInitialisedDataDir } from '../data-dir/require-data-dir.js';
import { runningService } from '../data-dir/runtime-file.js';
import { resolvePassphrase } from '../data-dir/secret-files.js';
import { CaNotRunningError, PassphraseMissingError } from '../errors.js';
import { UsageError, optionalString } from '@lantern/shared';

/**
 * Where admin commands go: the CA at `url`, or, when the data dir's service is not running,
 * the data dir itself for reads (`local`).
 */
export type AdminTarget =
  | { kind: 'http'; url: string; apiKey: string }
  | { kind: 'local'; dataDir: string; apiKey: string; env: NodeJS.ProcessEnv };

/**
 * `--url`, else the service running on `--data-dir` (its runtime file says where it listens,
 * whatever port it was given), else that data dir read directly. The key comes from
 * LANTERN_API_KEY or the data dir.
 */
export function adminTarget(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): AdminTarget {
  const dataDir = optionalString(values, 'data-dir');
  const url = optionalString(values, 'url');
  if (dataDir === undefined && url === undefined) {
    throw new UsageError('give --data-dir of the CA (or --url of the running CA)');
  }
  if (dataDir !== undefined) requireInitialisedDataDir(dataDir);
  const paths = dataDir === undefined ? undefined : dataDirPaths(dataDir);
  const apiKey =
    env['LANTERN_API_KEY'] ??
    (paths && existsSync(paths.adminApiKey)
      ? readFileSync(paths.adminApiKey, 'utf8').trim()
      : undefined);
  if (apiKey === undefined)
    throw new UsageError('set LANTERN_API_KEY or give --data-dir holding secrets/admin-api-key');
  if (url !== undefined) return { kind: 'http', url: url.replace(/\/+$/, ''), apiKey };
  const dir = dataDir as string;
  const running = runningService(dir);
  if (running === 'stopped') return { kind: 'local', dataDir: dir, apiKey, env };
  const configured = (
    JSON.parse(readFileSync(dataDirPaths(dir).config, 'utf8')) as { publicUrl: string }
  ).publicUrl;
  return {
    kind: 'http',
    url: (running === 'starting' ? configured : running.url).replace(/\/+$/, ''),
    apiKey,
  };
}

/** The HTTP methods the admin API uses. */
export type AdminMethod = 'GET' | 'POST' | 'PUT' | 'PATCH';

export interface AdminSession {
  request<T>(method: AdminMethod, path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

/** One request; a command that makes many (paging) keeps a session open with `openAdmin`. */
export async function adminRequest<T>(
  target: AdminTarget,
  method: AdminMethod,
  path: string,
  body?: unknown,
): Promise<T> {
  const session = await openAdmin(target, method);
  try {
    return await session.request<T>(method, path, body);
  } finally {
    await session.close();
  }
}

/** `method`: what the session will be used for; a change refuses at once on a local target. */
export async function openAdmin(target: AdminTarget, method: AdminMethod): Promise<AdminSession> {
  const send =
    target.kind === 'http'
      ? {
          answer: (m: AdminMethod, path: string, body?: unknown) => overHttp(target, m, path, body),
          close: async () => undefined,
        }
      : await fromDataDir(target, method);
  return {
    async request<T>(m: AdminMethod, path: string, body?: unknown): Promise<T> {
      const { status, statusText, text } = await send.answer(m, path, body);
      const parsed = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {};
      if (status < 200 || status >= 300) {
        throw new LanternError(
          String(parsed['code'] ?? 'internal_error'),
          status,
          String(parsed['message'] ?? statusText),
        );
      }
      return parsed as T;
    },
    close: send.close,
  };
}

interface Answer {
  status: number;
  statusText: string;
  text: string;
}

async function overHttp(
  target: AdminTarget & { kind: 'http' },
  method: AdminMethod,
  path: string,
  body?: unknown,
): Promise<Answer> {
  try {
    const response = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return {
      status: response.status,
      statusText: response.statusText,
      text: await response.text(),
    };
  } catch (error) {
    throw new ServiceUnavailableError(
      `cannot reach the CA at ${target.url}: ${(error as Error).message}`,
    );
  }
}

/**
 * A read answered by the same routes, API key checks included, on the data dir opened in this
 * process: the store is on this disk, so listing devices must not wait for the service. A change
 * still goes through the service, the one writer of a SQLite data dir.
 */
async function fromDataDir(
  target: AdminTarget & { kind: 'local' },
  method: AdminMethod,
): Promise<{
  answer: (method: AdminMethod, path: string) => Promise<Answer>;
  close: () => Promise<void>;
}> {
  const { dataDir } = target;
  const notRunning = () =>
    new CaNotRunningError(
      `no lantern-ca serve is running on ${dataDir}, and this command changes state through it; start it (\`lantern-ca serve --data-dir ${dataDir}\`) or give --url of the running CA`,
    );
  if (method !== 'GET') throw notRunning();
  const paths = dataDirPaths(dataDir);
  let passphrase: string;
  try {
    passphrase = resolvePassphrase(target.env, undefined, paths.passphraseFile);
  } catch (error) {
    if (!(error instanceof PassphraseMissingError)) throw error;
    throw new CaNotRunningError(
      `no lantern-ca serve is running on ${dataDir}; reading its data dir directly needs the CA passphrase (set LANTERN_CA_PASSPHRASE), or start the service`,
    );
  }
  // Loaded only here: the whole service is most of a CLI start, and a running CA needs none of it.
  const [{ openCa }, { buildApp }] = await Promise.all([
    import('../data-dir/open-ca.js'),
    import('../app.js'),
  ]);
  const ca = await openCa({
    dataDir,
    clock: systemClock,
    passphrase,
    // Stdout is the command's answer: the in-process service logs only problems, to stderr.
    logger: createLogger({
      service: 'lantern-ca',
      level: 'warn',
      salt: readFileSync(paths.logSalt, 'utf8').trim(),
      destination: process.stderr,
    }),
  });
  let app: Awaited<ReturnType<typeof buildApp>>;
  try {
    app = await buildApp({ context: ca.context });
  } catch (error) {
    await ca.close();
    throw error;
  }
  return {
    async answer(m, path) {
      if (m !== 'GET') throw notRunning();
      const response = await app.inject({
        method: m,
        url: path,
        headers: { authorization: `Bearer ${target.apiKey}` },
      });
      return {
        status: response.statusCode,
        statusText: response.statusMessage,
        text: response.body,
      };
    },
    async close() {
      await app.close();
      await ca.close();
    },
  };
}
