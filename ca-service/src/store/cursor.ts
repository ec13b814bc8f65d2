import type { Clock } from '@lantern/shared';
import type { SqlDatabase } from './sql-database.js';

/**
 * A reader's position in the event log, persisted in `cursors`. Writes are batched, at most one
 * per `flushMs`: re-sending a few hundred milliseconds of events after a crash is harmless (the
 * stream de-duplicates), an fsync per ack is not.
 */
export class Cursor {
  position: number;
  private written: number;
  private timer: NodeJS.Timeout | undefined;

  static read(db: SqlDatabase, name: string): number {
    const row = db.prepare('SELECT position FROM cursors WHERE name = ?').get(name) as
      { position: number } | undefined;
    return row?.position ?? 0;
  }

  static write(db: SqlDatabase, name: string, position: number, at: string): void {
    db.prepare(
      `INSERT INTO cursors (name, position, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
    ).run(name, position, at);
  }

  constructor(
    private readonly db: SqlDatabase,
    private readonly clock: Clock,
    readonly name: string,
    private readonly flushMs: number,
    /**
     * Asked before a timed write: false while this reader no longer owns the stored position (a
     * relay whose lease was lost), so that it never moves another instance's cursor back.
     */
    private readonly canWrite?: () => boolean,
  ) {
    this.position = Cursor.read(db, name);
    this.written = this.position;
  }

  /** Takes up the stored position again: another CA instance may have moved it (a lease). */
  reload(): void {
    this.flush();
    this.position = Cursor.read(this.db, this.name);
    this.written = this.position;
  }

  /** Drops the progress not yet written: this reader no longer owns the stored position. */
  forget(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.position = this.written;
  }

  advance(position: number): void {
    this.position = position;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (this.canWrite?.() === false) return;
      try {
        this.flush();
      } catch {
        // The store did not answer: the position stays unwritten and goes with the next flush.
      }
    }, this.flushMs);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.position === this.written || !this.db.open) return;
    Cursor.write(this.db, this.name, this.position, new Date(this.clock.now()).toISOString());
    this.written = this.position;
  }
}
