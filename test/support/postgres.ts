import pg from 'pg';
import { randomBytes } from 'node:crypto';

/** The machine's PostgreSQL (trust auth, database `test`), or LANTERN_TEST_POSTGRES_URL. */
export const TEST_POSTGRES_URL =
  process.env['LANTERN_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Set (to `postgres`) to run every test CA of a run on PostgreSQL instead of SQLite. */
export const TEST_STORE = process.env['LANTERN_TEST_STORE'] === 'postgres' ? 'postgres' : 'sqlite';

export interface PostgresSchema {
  name: string;
  /** The test database with this schema first on the search path. */
  url: string;
  drop(): Promise<void>;
}

async function admin<T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: database });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A schema of its own for one test's (or one load run's) store in `database`, dropped with
 * everything in it by `drop`.
 */
export async function createPostgresSchema(
  database = TEST_POSTGRES_URL,
  prefix = 'lantern_test',
): Promise<PostgresSchema> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await admin(database, (client) => client.query(`CREATE SCHEMA ${name}`));
  const url = new URL(database);
  url.searchParams.set('options', `-c search_path=${name}`);
  return {
    name,
    url: url.toString(),
    drop: () =>
      admin(database, (client) => client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`)).then(
        () => {},
      ),
  };
}
