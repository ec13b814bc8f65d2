/**
 * The storage floor of a CA whose store is PostgreSQL, and the throwaway schema that store lives
 * in. The floor is the `pg` client alone, no CA code: rows into `floor_events`, made
 * `LIKE events INCLUDING ALL` (the CA's columns, indexes, constraints and identity) in the CA's
 * own schema, so both sides write to the same server, database and disk. Each batch is one
 * multi-row INSERT committed on its own (autocommit: one transaction, one WAL flush).
 */
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { TEST_POSTGRES_URL, createPostgresSchema } from '../../test/support/postgres.js';

/**
 * Runs `work` with the URL of a new schema of the machine's PostgreSQL (LANTERN_TEST_POSTGRES_URL
 * or the test database), first on the search path, and drops the schema afterwards, failed or
 * not. Whatever `work` connects there must be closed when it returns, or the drop waits on it.
 */
export async function inBenchSchema<T>(work: (url: string) => Promise<T>): Promise<T> {
  const schema = await createPostgresSchema(TEST_POSTGRES_URL, 'lantern_bench');
  try {
    return await work(schema.url);
  } finally {
    await schema.drop();
  }
}

export class PostgresFloor {
  /** Named statements by text: the server parses each batch shape once, as the CA's are. */
  private readonly names = new Map<string, string>();

  private constructor(private readonly client: pg.Client) {}

  /** `url` must hold the CA's migrated `events` table. */
  static async open(url: string): Promise<PostgresFloor> {
    const client = new pg.Client({ connectionString: url, application_name: 'lantern-bench' });
    await client.connect();
    try {
      await client.query('CREATE TABLE floor_events (LIKE events INCLUDING ALL)');
    } catch (error) {
      await client.end();
      throw error;
    }
    return new PostgresFloor(client);
  }

  /** `rows` (values in `columns` order), `perInsert` to a statement; returns rows/s. */
  async insert(
    columns: readonly string[],
    rows: readonly (readonly unknown[])[],
    perInsert: number,
  ): Promise<number> {
    const batches: pg.QueryConfig[] = [];
    for (let i = 0; i < rows.length; i += perInsert) {
      const slice = rows.slice(i, i + perInsert);
      const text = insertText(columns, slice.length);
      let name = this.names.get(text);
      if (name === undefined) {
        name = `floor_${this.names.size + 1}`;
        this.names.set(text, name);
      }
      batches.push({ name, text, values: slice.flat() });
    }
    const start = performance.now();
    for (const batch of batches) await this.client.query(batch);
    return (rows.length * 1000) / (performance.now() - start);
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

function insertText(columns: readonly string[], count: number): string {
  const tuples = Array.from(
    { length: count },
    (_, row) =>
      `(${columns.map((_column, column) => `$${row * columns.length + column + 1}`).join(', ')})`,
  );
  return `INSERT INTO floor_events (${columns.join(', ')}) VALUES ${tuples.join(', ')}`;
}
