import { AsyncResource } from 'node:async_hooks';

const MAX_GROUP = 128;

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: units of work queued together run in one transaction, so they share one COMMIT
 * (on SQLite its fsync, `synchronous = FULL` keeping its durability; on PostgreSQL its round trip
 * and the writer's turn): no promise settles before the commit that holds its writes. Each unit
 * runs in its own savepoint, so one that throws rolls back alone and only its caller sees the
 * error.
 *
 * One flush at a time: units that arrive while a group commits wait for the next group, which
 * starts as soon as this one ends and takes all of them. On PostgreSQL an enrollment's reads
 * before its unit finish one network answer at a time, so groups cut at each event-loop turn
 * held one or two units and queued for the writer's turn; waiting for the flush under way lets
 * the group grow with the load (the fewest commits for the most units).
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;
  private flushing = false;
  private idle: (() => void)[] = [];
  /**
   * The asynchronous context the flush runs in: the one the group commit was made in, never the
   * first caller's. That caller may be in a transaction (its units would join it) or a request
   * (the others' appends would be traced and logged as that request's).
   */
  private readonly context = new AsyncResource('GroupCommit');

  /**
   * `transaction` must nest (an inner call is a savepoint); `inTransaction` says whether the
   * outer one is still open.
   */
  constructor(
    private readonly transaction: <T>(fn: () => Promise<T> | T) => Promise<T>,
    private readonly inTransaction: () => boolean,
  ) {}

  run<T>(work: () => Promise<T> | T): Promise<T> {
    // Inside a transaction the unit is part of it: queued, it would wait for a commit that
    // waits for it.
    if (this.inTransaction()) return this.transaction(work);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Resolves once every unit queued so far has committed or failed (before closing the store). */
  drain(): Promise<void> {
    if (!this.scheduled && !this.flushing && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => this.context.runInAsyncScope(() => void this.flush()));
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    this.flushing = true;
    // Bounded, so one group never holds the writer for long; the rest start the next one.
    const batch = this.pending.splice(0, MAX_GROUP);
    try {
      await this.commit(batch);
    } finally {
      this.flushing = false;
      if (this.pending.length > 0) this.schedule();
      else for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      await this.transaction(async () => {
        for (const { work } of batch) {
          try {
            outcomes.push({ ok: true, value: await this.transaction(work) });
          } catch (error) {
            // Some errors (disk full, I/O, a lost connection) end the whole transaction, not the
            // savepoint: the units before this one are gone too, and the ones after must not
            // commit on their own. Every caller then sees the failure.
            if (!this.inTransaction()) throw error;
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      for (const { reject } of batch) reject(error);
      return;
    }
    batch.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) resolve(outcome.value);
      else reject(outcome?.error);
    });
  }
}
