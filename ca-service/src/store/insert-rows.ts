import type { SqlDatabase } from './sql-database.js';
import { statement } from './statements.js';

/**
 * Rows per statement: 2,200 parameters at the widest row (an event's 22), well inside both
 * engines' limits. Measured on the sync and enrollment benches (bench/NOTES.md).
 */
const ROWS_PER_INSERT = 100;

/**
 * Rows written with `insertHead` (`INSERT INTO table (columns)`, written out by the table's
 * owner) in one statement per ROWS_PER_INSERT rows instead of one per row: on PostgreSQL each
 * statement is a round trip. A full batch is written as soon as it is complete and sent without
 * waiting (`SqlStatement.send`), so PostgreSQL stores it while the caller builds the next one;
 * `flush` writes the rest. Statements are kept per row count, so at most ROWS_PER_INSERT per head.
 */
export class RowBatches {
  private rows: (readonly unknown[])[] = [];

  constructor(
    private readonly db: SqlDatabase,
    private readonly insertHead: string,
  ) {}

  add(row: readonly unknown[]): void {
    this.rows.push(row);
    if (this.rows.length === ROWS_PER_INSERT) this.flush();
  }

  flush(): void {
    const batch = this.rows;
    if (batch.length === 0) return;
    this.rows = [];
    const group = `(${Array.from({ length: batch[0]?.length ?? 0 }, () => '?').join(', ')})`;
    const values = Array.from({ length: batch.length }, () => group).join(', ');
    const insert = statement(this.db, `${this.insertHead} VALUES ${values}`);
    const params = batch.flat();
    if (insert.send) insert.send(...params);
    else insert.run(...params);
  }
}
