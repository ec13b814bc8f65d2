interface Preparing<S> {
  prepare(sql: string): S;
}

const byDatabase = new WeakMap<object, Map<string, unknown>>();

/**
 * `db.prepare(sql)`, compiled once per database: preparing on every call was 6–14 % of the hot
 * paths (bench/NOTES.md). Only for fixed SQL text — never SQL with values spliced in, which
 * would grow the cache without bound — and not for `iterate()`, whose open cursor would make
 * the shared statement busy for a nested caller.
 */
export function statement<S>(db: Preparing<S>, sql: string): S {
  let statements = byDatabase.get(db);
  if (!statements) {
    statements = new Map();
    byDatabase.set(db, statements);
  }
  let prepared = statements.get(sql) as S | undefined;
  if (prepared === undefined) {
    prepared = db.prepare(sql);
    statements.set(sql, prepared);
  }
  return prepared;
}
