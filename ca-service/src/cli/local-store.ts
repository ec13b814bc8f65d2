import {
  EventValidator,
  UsageError,
  createIdGenerator,
  optionalString,
  systemClock,
} from '@lantern/shared';
import type { CommandIo } from '@lantern/shared';
import { existsSync } from 'node:fs';
import { databaseLocation, recordedDatabase } from '../data-dir/database-location.js';
import { openDatabase } from '../data-dir/open-ca.js';
import { dataDirPaths } from '../data-dir/paths.js';
import type { DataDirPaths } from '../data-dir/paths.js';
import { CaNotInitializedError } from '../errors.js';
import { EventStore } from '../store/event-store.js';
import type { CommandValues } from './command-kit.js';

const PROGRESS_EVERY = 50_000;

/** The option of the commands that read the store: which PostgreSQL database, when not the recorded one. */
export const DATABASE_OPTION = { database: { type: 'string' } } as const;

/** `--database`, else LANTERN_DATABASE_URL: a PostgreSQL store to read instead of the recorded one. */
export function databaseGiven(values: CommandValues, io: CommandIo): string | undefined {
  return optionalString(values, 'database') ?? io.env['LANTERN_DATABASE_URL'];
}

/**
 * The store opened for reading and for the backbone's own tables, without the CA keys: these
 * commands run beside a live `serve` (SQLite WAL, or the PostgreSQL database `init --database`
 * recorded) or on a copy of its data directory.
 */
export async function openStore(
  dataDir: string,
  database?: string,
): Promise<{
  store: EventStore;
  paths: DataDirPaths;
  close: () => Promise<void>;
}> {
  const paths = dataDirPaths(dataDir);
  const location = databaseLocation(paths, recordedDatabase(paths), database);
  if (location.engine === 'sqlite' && !existsSync(location.path))
    throw new CaNotInitializedError(`no event store in ${dataDir}; is it a lantern-ca data dir?`);
  const db = await openDatabase(location, systemClock);
  const store = new EventStore(db, {
    clock: systemClock,
    ids: createIdGenerator(systemClock),
    validator: new EventValidator(),
    projections: [],
  });
  return { store, paths, close: () => db.close() };
}

export function position(values: CommandValues, name: string) {
  const text = optionalString(values, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new UsageError(`--${name} must be a position (an integer from 1)`);
  return value;
}

/** Progress on stderr for humans; nothing with --json, whose stdout is one object. */
export function progress(values: CommandValues, io: CommandIo, verb: string) {
  let shown = 0;
  return (done: number, total: number) => {
    if (values['json'] || (done - shown < PROGRESS_EVERY && done < total) || done === shown) return;
    shown = done;
    io.stderr(`  ${verb} ${done}/${total} events`);
  };
}
