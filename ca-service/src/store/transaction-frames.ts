import { AsyncLocalStorage } from 'node:async_hooks';

/** What both engines keep of a transaction for the asynchronous context that runs it. */
export interface FrameState {
  /** Set when COMMIT or ROLLBACK is under way: nothing more may run in the transaction. */
  closed: boolean;
  /** Savepoints open, innermost last. */
  units: string[];
  /** A misuse that leaves the transaction's content unknown: it must not commit. */
  broken: Error | null;
}

export function newFrameState(): FrameState {
  return { closed: false, units: [], broken: null };
}

/**
 * The transaction of each asynchronous context (`AsyncLocalStorage`). Code still running in a
 * context after its transaction ended (a branch its callback did not await) gets an error
 * rather than a write committed on its own or sent into another request's transaction.
 */
export class TransactionFrames<F extends FrameState> {
  private readonly storage = new AsyncLocalStorage<F>();

  /** The open transaction of this context, if any; throws in one that has ended. */
  current(): F | undefined {
    const frame = this.storage.getStore();
    if (frame?.closed === true) {
      throw new TypeError('a statement ran after its transaction had ended (a branch not awaited)');
    }
    return frame;
  }

  /** As `current`, false rather than an error for a transaction that has ended. */
  isOpen(): boolean {
    const frame = this.storage.getStore();
    return frame !== undefined && !frame.closed;
  }

  run<R>(frame: F, work: () => R): R {
    return this.storage.run(frame, work);
  }

  /** A new savepoint's name, by its depth: `leaveUnit` checks that units nest. */
  enterUnit(frame: F): string {
    if (frame.broken !== null) throw frame.broken;
    const name = `unit_${frame.units.length + 1}`;
    frame.units.push(name);
    return name;
  }

  /**
   * Closes the innermost unit, which must be `name`: units of one transaction run one inside
   * the other. Two that overlap (a `Promise.all` of transactions inside one) share the
   * connection's one savepoint stack and undo each other's writes, so the transaction is refused.
   */
  leaveUnit(frame: F, name: string): void {
    if (frame.units.at(-1) !== name) {
      frame.broken ??= new TypeError(
        'nested transactions of one transaction overlapped: run them one after the other',
      );
      throw frame.broken;
    }
    frame.units.pop();
  }
}
