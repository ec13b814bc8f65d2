import { existsSync } from 'node:fs';
import { CaNotInitializedError } from '../errors.js';
import { recordedDatabase } from './database-location.js';
import { dataDirPaths } from './paths.js';

/** Refuses, in words, a data dir that is missing or was never initialised, before anything reads it. */
export function requireInitialisedDataDir(dataDir: string): void {
  const paths = dataDirPaths(dataDir);
  if (!existsSync(dataDir)) {
    throw new CaNotInitializedError(
      `the data dir ${dataDir} does not exist; create a CA there with \`lantern-ca init --data-dir ${dataDir}\``,
    );
  }
  // A CA on PostgreSQL has no SQLite file: its config.json names the database instead.
  if (
    !existsSync(paths.config) ||
    (!existsSync(paths.database) && recordedDatabase(paths) === undefined)
  ) {
    throw new CaNotInitializedError(
      `${dataDir} is not an initialised lantern-ca data dir (no config.json or lantern-ca.db); run \`lantern-ca init --data-dir ${dataDir}\``,
    );
  }
}
