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
 * statement is a round trip. A full batch is sent without waiting (`SqlStatement.send`) once the
 * next row arrives, so PostgreSQL stores it while the caller builds the next one. A batch that
 * fails is thrown by the next statement that waits, at the latest by `flush`, which runs the last
 * batch and waits for it (on SQLite, by the `add` that writes it). So between `add` and `flush`
 * the caller runs no nested unit whose failure it catches: that unit's savepoint could be the
 * statement that reports the batch's failure, and catching it would hide the failure until the
 * commit refuses. Statements are kept per row count, so at most ROWS_PER_INSERT per head.
 */
export class RowBatches {
  private rows: (readonly unknown[])[] = [];

  constructor(
    private readonly db: SqlDatabase,
    private readonly insertHead: string,
  ) {}

  add(row: readonly unknown[]): void {
    if (this.rows.length === ROWS_PER_INSERT) {
      const { insert, params } = this.take();
      insert.send(...params);
    }
    this.rows.push(row);
  }

  async flush(): Promise<void> {
    if (this.rows.length === 0) return;
    const { insert, params } = this.take();
    await insert.run(...params);
  }

  private take() {
    const batch = this.rows;
    this.rows = [];
    const group = `(${Array.from({ length: batch[0]?.length ?? 0 }, () => '?').join(', ')})`;
    const values = Array.from({ length: batch.length }, () => group).join(', ');
    return {
      insert: statement(this.db, `${this.insertHead} VALUES ${values}`),
      params: batch.flat(),
    };
  }
}
