import { randomInt } from 'node:crypto';
import { TpmCommandError } from './tpm2-tools.js';
import type { Tpm2Tools } from './tpm2-tools.js';

/** Owner-defined NV indices (TCG handle registry); the low bits are drawn at random. */
const NV_OWNER_BASE = 0x01800000;
const NV_OWNER_SPAN = 0x10000;
const COUNTER_ATTRIBUTES = 'nt=counter|ownerread|ownerwrite|no_da';
const DEFINE_ATTEMPTS = 8;

/**
 * A TPM NV counter: it only ever goes up, survives power cycles, and no file restore can take
 * it back. Owner authorization is the empty password most TPMs ship with (a TPM whose owner
 * hierarchy has a password needs it to be cleared, or the key store cannot be set up).
 */
export class TpmCounter {
  constructor(
    private readonly tpm: Tpm2Tools,
    readonly index: number,
  ) {}

  /** Defines a fresh counter at a free index and makes it readable (a counter starts unwritten). */
  static define(tpm: Tpm2Tools): TpmCounter {
    for (let attempt = 0; ; attempt++) {
      const index = NV_OWNER_BASE + randomInt(NV_OWNER_SPAN);
      try {
        tpm.run('tpm2_nvdefine', [hex(index), '-C', 'o', '-s', '8', '-a', COUNTER_ATTRIBUTES]);
      } catch (error) {
        if (error instanceof TpmCommandError && attempt < DEFINE_ATTEMPTS) continue;
        throw error;
      }
      const counter = new TpmCounter(tpm, index);
      counter.increment();
      return counter;
    }
  }

  read(): bigint {
    const value = this.tpm.run('tpm2_nvread', [hex(this.index), '-C', 'o', '-s', '8']);
    return value.readBigUInt64BE(0);
  }

  /** Increments, then reads: other processes share the counter, so the value is read back. */
  increment(): bigint {
    this.tpm.run('tpm2_nvincrement', [hex(this.index), '-C', 'o']);
    return this.read();
  }

  /** Frees the index (enrollment failed or the device was wiped). */
  undefine(): void {
    this.tpm.run('tpm2_nvundefine', [hex(this.index), '-C', 'o']);
  }
}

export function hex(index: number): string {
  return `0x${index.toString(16).padStart(8, '0')}`;
}
