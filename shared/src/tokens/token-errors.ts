import { defineError } from '../errors/lantern-error.js';

export const UnusableKeyError = defineError(
  'unusable_key',
  500,
  'A key offered for signing or verifying tokens is not one Lantern accepts: not EC P-256 (or Ed25519 where EdDSA is enabled), private parts where only public ones belong, or a duplicate kid.',
  'Publish only public EC P-256 keys with distinct kids in the JWKS, and sign with the matching private key.',
);

export const tokenErrors = [UnusableKeyError] as const;
