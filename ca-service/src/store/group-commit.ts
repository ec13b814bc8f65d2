interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: units of work queued in the same event-loop turn run in one SQLite
 * transaction, so they share one COMMIT and its fsync (`synchronous = FULL` keeps its
 * durability: no promise settles before the commit that holds its writes). Each unit runs in
 * its own savepoint, so one that throws rolls back alone and only its caller sees the error.
 */
export class GroupCommit {
  private pending: Pending[] = [];
  private scheduled = false;

  /**
   * `transaction` must nest (better-sqlite3 turns an inner call into a savepoint);
   * `inTransaction` says whether the outer one is still open.
   */
  constructor(
    private readonly transaction: <T>(fn: () => T) => T,
    private readonly inTransaction: () => boolean,
  ) {}

  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.transaction(() => {
        for (const { work } of batch) {
          try {
            outcomes.push({ ok: true, value: this.transaction(work) });
          } catch (error) {
            // Some errors (disk full, I/O) make SQLite roll back the whole transaction, not the
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
