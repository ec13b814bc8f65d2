import pg from 'pg';

/**
 * A connection of its own to the store's database, outside the CA: another instance's session,
 * or an administrator's.
 */
export async function barePostgres(url: string): Promise<{
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}> {
  const client = new pg.Client({
    connectionString: url,
    application_name: 'lantern-ca contract test',
  });
  client.on('error', () => {});
  await client.connect();
  return {
    async query(sql, params) {
      const result = await client.query(sql, params);
      const last = Array.isArray(result) ? (result.at(-1) as pg.QueryResult) : result;
      return last.rows as Record<string, unknown>[];
    },
    close: () => client.end(),
  };
}
