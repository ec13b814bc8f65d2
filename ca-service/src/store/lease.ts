import { PostgresDatabase } from './postgres/postgres-database.js';
import type { SqlDatabase } from './sql-database.js';

/**
 * A duty only one CA instance may carry out at a time (the outbox relay, webhook dispatch). On PostgreSQL it is a
 * session-level advisory lock: PostgreSQL drops it when the holder's connection ends, so a
 * killed instance hands it over at once. On SQLite the serve lock already makes this process
 * the only one, so the lease is always held.
 */
export interface Lease {
  /** Takes the lease if it is free; true while this instance holds it. */
  tryAcquire(): Promise<boolean>;
  /**
   * False once the lease is lost: the connection that held it was replaced (PostgreSQL ended
   * the session, and another instance may hold the lease now).
   */
  held(): boolean;
  release(): Promise<void>;
}

export function leaseOf(db: SqlDatabase, name: string): Lease {
  if (!(db instanceof PostgresDatabase)) {
    return {
      tryAcquire: () => Promise.resolve(true),
      held: () => true,
      release: () => Promise.resolve(),
    };
  }
  let heldOn: number | null = null;
  let asking: Promise<boolean> | null = null;
  const held = () => heldOn !== null && heldOn === db.session;
  const ask = async () => {
    if (held()) return true;
    const taken = await db.tryLock(`lease:${name}`);
    heldOn = taken ? db.session : null;
    return heldOn !== null;
  };
  return {
    tryAcquire() {
      // The lock counts re-entries: ask only while not holding it, and one ask at a time, so
      // one release lets it go.
      asking ??= ask().finally(() => {
        asking = null;
      });
      return asking;
    },
    held,
    async release() {
      if (!held()) {
        heldOn = null;
        return;
      }
      heldOn = null;
      await db.unlock(`lease:${name}`);
    },
  };
}
