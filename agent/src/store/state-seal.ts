import { createHmac, timingSafeEqual } from 'node:crypto';
import { StateRollbackError } from '../errors.js';
import type { AgentStore } from './agent-store.js';
import { statement } from './statements.js';

/** The monotonic counter the seal is bound to (a TPM NV counter). */
export interface MonotonicCounter {
  readonly index: number;
  read(): bigint;
  increment(): bigint;
}

/** Everything a restore or an edit would want to take back, as one canonical JSON text. */
const STATE_SQL = `json_array(
  (SELECT json_array(mark_ms, anchor_wall_ms, source, anchor_boot_id, anchor_uptime_ms)
     FROM trusted_time WHERE id = 1),
  (SELECT revocation_cursor FROM sync_state WHERE id = 1),
  (SELECT json_group_array(json_array(user_id, failure_count, window_start, locked_until))
     FROM (SELECT * FROM lockout ORDER BY user_id)),
  (SELECT json_array(revoked_at, keys_destroyed_at) FROM binding WHERE id = 1))`;

const RESEAL = `UPDATE state_seal SET seal = lantern_state_seal(${STATE_SQL}) WHERE id = 1`;

/** The TEMP triggers are `lantern_state_seal_0` … : their presence is what a guarded connection has. */
const TRIGGER_PREFIX = 'lantern_state_seal_';

/**
 * After a transaction whose undoing would matter most (a sync round: revocations, the cursor,
 * the server time), one more step of the counter in a transaction of its own: a copy of the
 * store from before that transaction is then two steps behind the TPM and refused, where the
 * one step of slack would have accepted it. A crash before this commits leaves the round's own
 * state one behind, which still opens. Does nothing on a connection without the seal (the
 * software tier).
 */
export function fenceSealedState(store: AgentStore): void {
  const guarded = statement<[string], number>(
    store.db,
    "SELECT 1 FROM temp.sqlite_master WHERE type = 'trigger' AND name = ?",
  )
    .pluck()
    .get(`${TRIGGER_PREFIX}0`);
  if (guarded === undefined) return;
  store.transaction(() => statement(store.db, RESEAL).run());
}

/** Tables whose writes reseal; the triggers are TEMP, so only a guarded connection has them. */
const WATCHED = [
  ['trusted_time', 'UPDATE'],
  ['sync_state', 'UPDATE OF revocation_cursor'],
  ['lockout', 'INSERT'],
  ['lockout', 'UPDATE'],
  ['lockout', 'DELETE'],
  ['binding', 'UPDATE OF revoked_at, keys_destroyed_at'],
] as const;

/**
 * Rollback protection for the rows that stop guessing and replay (docs/architecture.md §4 trusted time,
 * lockout, the revocation cursor): each write to them, through SQLite triggers on this
 * connection, increments the TPM counter and stores `counter ‖ HMAC(key, counter, index,
 * state)`. Opening checks the MAC and that the counter is the TPM's: a copy of agent.db taken
 * earlier carries an older counter. The TPM is incremented before SQLite commits, so a crash or
 * a rolled-back transaction in between leaves the store one behind; one step behind is
 * therefore accepted (and is the residual a restore can win: the last single transaction).
 * That is why a transaction of `AgentStore.transaction` increments once however many sealed rows
 * it writes (an offline sign-in writes the trusted-time anchor and the lockout in one): two
 * increments would leave a crashed transaction two behind, refused as an older copy. A write
 * outside such a transaction increments each time, as its own commit.
 */
export class StateSeal {
  private sealedFor: { transaction: object; counter: bigint } | null = null;

  constructor(
    private readonly store: AgentStore,
    private readonly counter: MonotonicCounter,
    private readonly macKey: Buffer,
  ) {}

  /** Registers the triggers on this connection. Call `verify` (or `initialize`) first. */
  install(): void {
    const { db } = this.store;
    db.function('lantern_state_seal', { deterministic: false }, (state: unknown) =>
      this.seal(this.counterForWrite(), String(state)),
    );
    for (const [index, [table, event]] of WATCHED.entries()) {
      db.exec(
        `CREATE TEMP TRIGGER IF NOT EXISTS ${TRIGGER_PREFIX}${index} AFTER ${event} ON main.${table}
         BEGIN ${RESEAL}; END`,
      );
    }
  }

  /** At enrollment: the first seal, for the counter's current value. */
  initialize(): void {
    const state = this.state();
    const seal = this.seal(this.counter.read(), state);
    this.store.db
      .prepare<[Buffer]>(
        'INSERT INTO state_seal (id, seal) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET seal = excluded.seal',
      )
      .run(seal);
  }

  /**
   * Throws `state_rollback` unless the rows are as last sealed, at the TPM's counter. Under the
   * write lock: another process's sealed write between the reads below (it increments the TPM,
   * then commits) would make a consistent store look edited, or two steps behind.
   */
  verify(): void {
    this.store.transaction(() => this.verifyLocked());
  }

  private verifyLocked(): void {
    const row = this.store.db
      .prepare<[], { seal: Buffer }>('SELECT seal FROM state_seal WHERE id = 1')
      .get();
    if (!row || row.seal.length !== 8 + 32) {
      throw new StateRollbackError('the agent store carries no TPM state seal');
    }
    const sealed = row.seal.readBigUInt64BE(0);
    const expected = this.seal(sealed, this.state());
    if (!timingSafeEqual(expected, row.seal)) {
      throw new StateRollbackError(
        'the lockout, trusted-time or revocation rows were changed outside the agent',
      );
    }
    const current = this.counter.read();
    if (sealed !== current && sealed + 1n !== current) {
      throw new StateRollbackError(
        `the agent store was sealed at TPM counter ${sealed}, the TPM is at ${current}: it is an older copy`,
      );
    }
  }

  private counterForWrite(): bigint {
    const transaction = this.store.currentTransaction;
    if (transaction !== null && this.sealedFor?.transaction === transaction) {
      return this.sealedFor.counter;
    }
    const counter = this.counter.increment();
    this.sealedFor = transaction === null ? null : { transaction, counter };
    return counter;
  }

  private state(): string {
    const row = this.store.db.prepare<[], { state: string }>(`SELECT ${STATE_SQL} AS state`).get();
    return row?.state ?? '';
  }

  private seal(counter: bigint, state: string): Buffer {
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64BE(counter);
    const mac = createHmac('sha256', this.macKey)
      .update(prefix)
      .update(String(this.counter.index))
      .update('\0')
      .update(state, 'utf8')
      .digest();
    return Buffer.concat([prefix, mac]);
  }
}
