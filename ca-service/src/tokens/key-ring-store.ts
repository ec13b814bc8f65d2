import type { KeyObject } from 'node:crypto';
import type { HeldKey } from '../pki/pkcs11-token.js';

interface TokenKeyBase {
  /** RFC 7638 thumbprint of the public key. */
  kid: string;
  /** In this process (file store), or a handle to one held by a PKCS#11 token. */
  privateKey: KeyObject | HeldKey;
  /** Epoch milliseconds, as every time in the ring. */
  createdAt: number;
}

/**
 * `next` is published and never signs; `active` signs; `retired` no longer signs and stays
 * published until `removeAfter`, fixed when it retired so that a later change of the maximum
 * token lifetime cannot cut short the tokens it has already signed.
 */
export type TokenKey =
  | (TokenKeyBase & { status: 'next' })
  | (TokenKeyBase & { status: 'active'; activatedAt: number })
  | (TokenKeyBase & {
      status: 'retired';
      activatedAt: number;
      retiredAt: number;
      removeAfter: number;
    });

export interface KeyRingState {
  keys: readonly TokenKey[];
}

export interface KeyRingStore {
  /** Null when nothing has been saved yet. */
  load(): Promise<KeyRingState | null> | KeyRingState | null;
  /** Must be atomic: a crash leaves either the old state or the new one. */
  save(state: KeyRingState): Promise<void> | void;
  /** Where new keys are made; in this process when absent. */
  generateKey?(): KeyObject | HeldKey;
  /**
   * True when another CA instance saved the ring since this one last loaded or saved it (a
   * store shared through the database); such a store's `save` throws `KeyRingChangedError`
   * rather than overwrite that change.
   */
  changed?(): Promise<boolean> | boolean;
}

/** A save refused because another CA instance changed the shared key ring first. */
export class KeyRingChangedError extends Error {
  constructor() {
    super('another CA instance changed the token key ring');
    this.name = 'KeyRingChangedError';
  }
}

export function memoryKeyRingStore(): KeyRingStore {
  let saved: KeyRingState | null = null;
  return {
    load: () => saved,
    save: (state) => {
      saved = state;
    },
  };
}
