import { defineError } from '@lantern/shared';

// Sign-in refusals are not here on purpose: they are verdicts with reason codes, expected
// outcomes rather than failures of the agent.

export const NotEnrolledError = defineError(
  'not_enrolled',
  409,
  'This agent has no device binding yet, so it cannot sign anyone in or sync.',
  'Run `lantern-agent enroll --ca URL --token T --data-dir D` with a fresh enrollment token.',
);
export const AlreadyEnrolledError = defineError(
  'already_enrolled',
  409,
  'The data directory already holds a device binding.',
  'Keep using the existing binding, or enroll into a new, empty data directory.',
);
export const RootFingerprintMismatchError = defineError(
  'root_fingerprint_mismatch',
  502,
  'The root certificate the CA presented does not match the pinned root fingerprint.',
  'Compare the fingerprint `lantern-ca init` printed with the one given to the agent, and check the CA URL; never enroll against an unknown root.',
);
export const StoreCorruptError = defineError(
  'store_corrupt',
  500,
  'The agent SQLite store is not a database or failed its integrity check.',
  'Stop the agent, keep a copy of the data directory for diagnosis, then re-enroll into a new data directory.',
);
export const StoreVersionUnsupportedError = defineError(
  'store_version_unsupported',
  500,
  'The agent store has a schema written by a newer agent version than this one.',
  'Upgrade the agent to at least the version that last opened this data directory; do not downgrade.',
);
export const KeyUnavailableError = defineError(
  'key_unavailable',
  503,
  'The device key or the data key is missing, unreadable or has unsafe file permissions.',
  'Check that the data directory is intact and owned by the agent user with mode 0600 key files; if the key is lost, re-enroll.',
);
export const DeviceKeyExistsError = defineError(
  'device_key_exists',
  409,
  'A device key already exists here; generating another would orphan the binding that uses it.',
  'Reuse the existing key, or enroll into a new, empty data directory.',
);
export const DataKeyDestroyedError = defineError(
  'data_key_destroyed',
  410,
  'The data key was crypto-shredded (device revoked or wiped): nothing sealed with it can be read again.',
  'This device has to be enrolled again, into a new, empty data directory.',
);
export const SealedDataInvalidError = defineError(
  'sealed_data_invalid',
  500,
  'A sealed secret failed authentication: it was altered, moved to another row or purpose, or sealed under another data key.',
  'Treat the row as lost (sign in online to rebuild it); if many rows fail, the store was tampered with or restored from another device.',
);
export const OutboxAckOutOfRangeError = defineError(
  'outbox_ack_out_of_range',
  409,
  'An ack named an outbox sequence number this agent never assigned.',
  'Check that the data directory was not restored from an older backup (sequence numbers would be reused); re-enroll the device if it was.',
);

export const CaUnreachableError = defineError(
  'ca_unreachable',
  503,
  'The CA did not answer: no connection, a timeout, or a failure before any HTTP response.',
  'Check the CA URL, the network and that `lantern-ca serve` is running, then retry; nothing was stored.',
);
export const EnrollmentFailedError = defineError(
  'enrollment_failed',
  502,
  'The CA answered the enrollment, but its answer was malformed or did not bind this device key (wrong key, identity, chain or policy).',
  'Nothing was stored and the keys were removed. Read `message` for what did not match; check the CA URL and version, then enroll again with a new token.',
);
export const EnrollmentInProgressError = defineError(
  'enrollment_in_progress',
  409,
  'Another enrollment is running in the same data directory.',
  'Wait for the other `lantern-agent enroll` to finish (it holds the store lock), then check `lantern-agent status`.',
);
export const LoopbackOnlyError = defineError(
  'loopback_only',
  403,
  'The agent API listens on, and answers, the loopback interface only (a request from elsewhere, or under another Host name, is refused).',
  'Use --host 127.0.0.1 (or ::1 / localhost); other machines talk to the CA, never to a device agent.',
);

export const SigninAnswerInvalidError = defineError(
  'signin_answer_invalid',
  502,
  'The CA accepted the sign-in, but its answer did not check out: a token with a bad signature, for another device, key or issuer, or a malformed body. Nothing was stored.',
  'Check that the agent talks to its own CA (the URL of the binding, over HTTPS) and that the CA and agent versions match; sign-in works offline meanwhile if the user has a grant.',
);
export const SyncFailedError = defineError(
  'sync_failed',
  502,
  'A sync round did not complete: the CA answer did not verify, or it moved the cursor under us. Nothing from that round was applied.',
  'Run `lantern-agent sync` again; if it persists, check that the agent talks to its own CA and that the clocks are sane.',
);
export const TpmUnavailableError = defineError(
  'tpm_unavailable',
  503,
  'The TPM key store could not be used: tpm2-tools are missing, the TPM (or swtpm) does not answer on the configured TCTI, or it refused an operation.',
  'Install `tpm2-tools`, check the `--tpm-tcti` given at enrollment (`lantern-agent status` shows the key store) and that the TPM is reachable; a key store moved to another TPM cannot be used there.',
);
export const StateRollbackError = defineError(
  'state_rollback',
  409,
  "The agent store's lockout, trusted-time or revocation state is older than the TPM's monotonic counter, or its MAC does not verify: the store was restored from a copy or edited.",
  'Do not restore agent.db from backups on a TPM-backed device; move the data directory aside and enroll the device again.',
);

export const AgentUnreachableError = defineError(
  'agent_unreachable',
  503,
  'No Lantern agent of this data directory answers on the loopback port.',
  'Start it with `lantern-agent serve --data-dir D` (or the desktop app), and give the same --port and --data-dir.',
);

export const BindingExpiredError = defineError(
  'binding_expired',
  403,
  "The device's binding certificate expired longer ago than the renewal grace period: it can no longer renew with its old key, sign anyone in or sync.",
  'Re-enroll the device: `lantern-agent enroll --ca URL --token T --data-dir D` on the same data directory with a new enrollment token; its queued events are kept and delivered.',
);
export const RenewalFailedError = defineError(
  'renewal_failed',
  502,
  'The CA answered the renewal, but its answer did not bind this device and key under the pinned root. The old binding was kept.',
  'Check that the agent talks to its own CA and that the versions match, then run `lantern-agent renew` again.',
);
export const RenewalInProgressError = defineError(
  'renewal_in_progress',
  409,
  'Another process is renewing this device binding right now.',
  'Wait for it to finish (the agent daemon renews in the background), then check `lantern-agent status`.',
);

export const agentErrors = [
  NotEnrolledError,
  AlreadyEnrolledError,
  RootFingerprintMismatchError,
  StoreCorruptError,
  StoreVersionUnsupportedError,
  KeyUnavailableError,
  DeviceKeyExistsError,
  DataKeyDestroyedError,
  SealedDataInvalidError,
  OutboxAckOutOfRangeError,
  CaUnreachableError,
  EnrollmentFailedError,
  EnrollmentInProgressError,
  LoopbackOnlyError,
  SigninAnswerInvalidError,
  SyncFailedError,
  AgentUnreachableError,
  TpmUnavailableError,
  StateRollbackError,
  BindingExpiredError,
  RenewalFailedError,
  RenewalInProgressError,
] as const;

export type AgentErrorCode = (typeof agentErrors)[number]['definition']['code'];
