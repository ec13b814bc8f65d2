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

  static async read(db: SqlDatabase, name: string): Promise<number> {
    const row = (await db.prepare('SELECT position FROM cursors WHERE name = ?').get(name)) as
      { position: number } | undefined;
    return row?.position ?? 0;
  }

  static async write(db: SqlDatabase, name: string, position: number, at: string): Promise<void> {
    await db
      .prepare(
        `INSERT INTO cursors (name, position, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
      )
      .run(name, position, at);
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
    // Read by `reload()`, which the owner calls before it uses the position.
    this.position = 0;
    this.written = 0;
  }

  /** Takes up the stored position again: another CA instance may have moved it (a lease). */
  async reload(): Promise<void> {
    await this.flush();
    this.position = await Cursor.read(this.db, this.name);
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
    this.timer ??= setTimeout(async () => {
      this.timer = undefined;
      if (this.canWrite?.() === false) return;
      try {
        await this.flush();
      } catch {
        // The store did not answer: the position stays unwritten and goes with the next flush.
      }
    }, this.flushMs);
  }

  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const target = this.position;
    if (target === this.written || !this.db.open) return;
    await Cursor.write(this.db, this.name, target, new Date(this.clock.now()).toISOString());
    // What was written: an `advance` while the write was under way is the next flush's.
    this.written = target;
  }
}
