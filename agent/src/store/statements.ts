import type { Database, Statement } from 'better-sqlite3';

const byDatabase = new WeakMap<Database, Map<string, Statement>>();

/**
 * `db.prepare(sql)`, compiled once per connection: preparing on every call was ~9 % of an
 * offline sign-in (bench/NOTES.md). Only for fixed SQL text (never values spliced in, which
 * would grow the cache without bound), and not for `iterate()`, whose open cursor would leave
 * the shared statement busy for a nested caller.
 */
export function statement<P extends unknown[] = unknown[], R = unknown>(
  db: Database,
  sql: string,
): Statement<P, R> {
  let statements = byDatabase.get(db);
  if (!statements) {
    statements = new Map();
    byDatabase.set(db, statements);
  }
  let prepared = statements.get(sql);
  if (!prepared) {
    prepared = db.prepare(sql);
    statements.set(sql, prepared);
  }
  return prepared as unknown as Statement<P, R>;
}
