import type { SqlDatabase } from './sql-database.js';
import { statement } from './statements.js';

/**
 * Rows per statement: 2,200 parameters at the widest row (an event's 22), well inside both
 * engines' limits. Measured on the sync and enrollment benches (bench/NOTES.md).
 */
const ROWS_PER_INSERT = 100;

/**
 * Writes `rows` with `insertHead` (`INSERT INTO table (columns)`, written out by the table's
 * owner) in one statement per ROWS_PER_INSERT rows instead of one per row: on PostgreSQL each
 * statement is a round trip. Statements are kept per row count, so at most ROWS_PER_INSERT per
 * head.
 */
export function insertRows(
  db: SqlDatabase,
  insertHead: string,
  rows: readonly (readonly unknown[])[],
): void {
  const width = rows[0]?.length ?? 0;
  const group = `(${Array.from({ length: width }, () => '?').join(', ')})`;
  for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
    const batch = rows.slice(start, start + ROWS_PER_INSERT);
    const values = Array.from({ length: batch.length }, () => group).join(', ');
    statement(db, `${insertHead} VALUES ${values}`).run(...batch.flat());
  }
}
