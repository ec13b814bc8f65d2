import type { SqlDatabase, SqlStatement } from './sql-database.js';

const byDatabase = new WeakMap<SqlDatabase, Map<string, SqlStatement>>();

/**
 * `db.prepare(sql)`, compiled once per database: preparing on every call was 6–14 % of the hot
 * paths (bench/NOTES.md). Only for fixed SQL text — never SQL with values spliced in, which
 * would grow the cache without bound — and not for `iterate()`, whose open cursor would make
 * the shared statement busy for a nested caller.
 */
export function statement(db: SqlDatabase, sql: string): SqlStatement {
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
  return prepared;
}
