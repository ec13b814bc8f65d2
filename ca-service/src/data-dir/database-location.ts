import { UsageError } from '@lantern/shared';
import { existsSync, readFileSync } from 'node:fs';
import type { DataDirPaths } from './paths.js';

/** Where a CA's store is: the SQLite file in its data dir, or a PostgreSQL database. */
export type DatabaseLocation =
  { engine: 'sqlite'; path: string } | { engine: 'postgres'; url: string; display: string };

const POSTGRES_URL = /^postgres(ql)?:\/\//;

/** Where libpq and `pg` also take a password from: the query string. */
const PASSWORD_PARAMETERS = ['password', 'sslpassword'];

function carriesPassword(url: URL): boolean {
  return url.password !== '' || PASSWORD_PARAMETERS.some((name) => url.searchParams.has(name));
}

/** The URL without its password, for logs and messages. */
export function displayDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    for (const name of PASSWORD_PARAMETERS) {
      if (parsed.searchParams.has(name)) parsed.searchParams.set(name, '***');
    }
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

/** A `--database` value checked: a PostgreSQL URL (SQLite needs none, it is the default). */
export function postgresLocation(url: string): DatabaseLocation & { engine: 'postgres' } {
  if (!POSTGRES_URL.test(url) || !URL.canParse(url)) {
    throw new UsageError(
      `--database must be a PostgreSQL URL (postgres://user@host:5432/db); without it the CA keeps its store in SQLite in the data dir`,
    );
  }
  return { engine: 'postgres', url, display: displayDatabaseUrl(url) };
}

/** The PostgreSQL URL `init --database` wrote to config.json, if any. */
export function recordedDatabase(paths: DataDirPaths): string | undefined {
  if (!existsSync(paths.config)) return undefined;
  const config = JSON.parse(readFileSync(paths.config, 'utf8')) as { database?: unknown };
  return typeof config.database === 'string' ? config.database : undefined;
}

/**
 * Which store a CA opens: `--database` (or LANTERN_DATABASE_URL) when given, else the database
 * `init --database` recorded in config.json, else the data dir's SQLite file.
 */
export function databaseLocation(
  paths: DataDirPaths,
  recorded: string | undefined,
  given: string | undefined,
): DatabaseLocation {
  const url = given ?? recorded;
  return url === undefined ? { engine: 'sqlite', path: paths.database } : postgresLocation(url);
}

/**
 * config.json is readable by anyone on the host: a URL recorded there must not carry a
 * password (PostgreSQL reads one from PGPASSWORD or ~/.pgpass).
 */
export function recordableDatabaseUrl(url: string): string {
  const location = postgresLocation(url);
  if (carriesPassword(new URL(location.url))) {
    throw new UsageError(
      '--database must not carry a password: it is written to config.json; give it in PGPASSWORD or ~/.pgpass',
    );
  }
  return location.url;
}
