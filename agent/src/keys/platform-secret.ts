/** What a platform secret store holds for one slot. */
export type PlatformSecretState =
  | { state: 'present'; secret: Buffer }
  | { state: 'absent' }
  /** Crypto-shredded: kept distinct from `absent` so a wiped device says why it cannot read. */
  | { state: 'destroyed' };

/**
 * Where the data key lives, protected by whatever the platform offers: a 0600 file by default,
 * Electron `safeStorage` (OS keychain / DPAPI / libsecret) or a TPM-sealed blob later. Only the
 * data key goes through it; every other secret is sealed with the data key.
 */
export interface PlatformSecret {
  /** Names the storage in error messages (a path, a keychain entry); never the secret. */
  readonly description: string;
  load(): Promise<PlatformSecretState>;
  /** Stores a new secret; refuses (resolves false) when one is present, so a key is never replaced. */
  create(secret: Buffer): Promise<boolean>;
  /** Erases the secret beyond recovery; afterwards `load()` reports `destroyed`. Idempotent. */
  destroy(): Promise<void>;
}
