import { LanternError, ServiceUnavailableError } from '@lantern/shared';
import { existsSync, readFileSync } from 'node:fs';
import { dataDirPaths } from '../data-dir/paths.js';
import { UsageError, optionalString } from '@lantern/shared';

export interface AdminTarget {
  url: string;
  apiKey: string;
}

/** `--url` or the data dir's configured URL; the key from LANTERN_API_KEY or the data dir. */
export function adminTarget(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): AdminTarget {
  const dataDir = optionalString(values, 'data-dir');
  const paths = dataDir === undefined ? undefined : dataDirPaths(dataDir);
  let url = optionalString(values, 'url');
  if (url === undefined && paths && existsSync(paths.config)) {
    url = (JSON.parse(readFileSync(paths.config, 'utf8')) as { publicUrl: string }).publicUrl;
  }
  const apiKey =
    env['LANTERN_API_KEY'] ??
    (paths && existsSync(paths.adminApiKey)
      ? readFileSync(paths.adminApiKey, 'utf8').trim()
      : undefined);
  if (url === undefined) throw new UsageError('give --url of the running CA (or --data-dir)');
  if (apiKey === undefined)
    throw new UsageError('set LANTERN_API_KEY or give --data-dir holding secrets/admin-api-key');
  return { url: url.replace(/\/+$/, ''), apiKey };
}

export async function adminRequest<T>(
  target: AdminTarget,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new ServiceUnavailableError(
      `cannot reach the CA at ${target.url}: ${(error as Error).message}`,
    );
  }
  const text = await response.text();
  const parsed = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!response.ok) {
    throw new LanternError(
      String(parsed['code'] ?? 'internal_error'),
      response.status,
      String(parsed['message'] ?? response.statusText),
    );
  }
  return parsed as T;
}
