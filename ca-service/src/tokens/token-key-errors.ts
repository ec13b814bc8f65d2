import { defineError } from '@lantern/shared';

export const KeyRingLockedError = defineError(
  'key_ring_locked',
  503,
  'The token signing keys could not be decrypted: no passphrase, or not the one they were written with.',
  'Start the service with the passphrase the key ring was created with (from the environment or a file, never argv).',
);

export const KeyRingCorruptError = defineError(
  'key_ring_corrupt',
  503,
  'The token key file is not a key ring this version can read: bad JSON, a missing field, or a kid that does not match its key.',
  'Restore the file from a backup; moving it away makes the service generate new keys, and tokens already issued stop verifying.',
);

export const TokenLifetimeExceededError = defineError(
  'token_lifetime_exceeded',
  500,
  "A token was to be signed without `exp` or with an `exp` past the key ring's maximum token lifetime, so it could outlive its key's publication.",
  'Issue a shorter-lived token, or raise maxTokenLifetimeMs (retired keys then stay published longer).',
);

export const tokenKeyErrors = [
  KeyRingLockedError,
  KeyRingCorruptError,
  TokenLifetimeExceededError,
] as const;
