import { defineError } from '@lantern/shared';

export const EnrollmentTokenInvalidError = defineError(
  'enrollment_token_invalid',
  401,
  'The enrollment token is malformed or unknown.',
  'Ask an admin for a new token (`lantern-ca enroll-token create`) and copy it whole.',
);
export const EnrollmentTokenExpiredError = defineError(
  'enrollment_token_expired',
  401,
  'The enrollment token is past its time to live.',
  'Ask an admin for a new token; tokens are short-lived on purpose.',
);
export const EnrollmentTokenUsedError = defineError(
  'enrollment_token_used',
  409,
  'The enrollment token was already used to enroll a device; tokens are one-time.',
  'Ask an admin for a new token for each device.',
);
export const EnrollmentTokenRevokedError = defineError(
  'enrollment_token_revoked',
  401,
  'An admin revoked this enrollment token.',
  'Ask an admin for a new token.',
);
export const TenantMismatchError = defineError(
  'tenant_mismatch',
  403,
  'The credential belongs to another tenant than the one the request names.',
  'Use a token, key or device of the same tenant.',
);
export const TpmAttestationInvalidError = defineError(
  'tpm_attestation_invalid',
  400,
  "The TPM attestation does not verify: the endorsement key certificate does not chain to a trusted TPM manufacturer, the attestation key is not a restricted TPM signing key, the challenge is not this enrollment's or has expired, or the certified key is not the CSR's key in that TPM.",
  'Enroll with the TPM the manufacturer certified, in one go (the challenge lasts five minutes), or without `--key-store tpm` for the software tier.',
);
export const HardwareKeyRekeyError = defineError(
  'hardware_key_rekey_refused',
  409,
  'The device is at the attested hardware tier: its key stays in its TPM, and a new key that no TPM attestation vouches for would keep the tier it did not earn.',
  'Renew without a CSR (the same TPM key), or re-enroll with TPM attestation of the new key.',
);
export const CsrInvalidError = defineError(
  'csr_invalid',
  400,
  'The certificate signing request is not a parseable PKCS#10 PEM.',
  'Send the CSR as PEM (`-----BEGIN CERTIFICATE REQUEST-----`).',
);
export const CsrSignatureInvalidError = defineError(
  'csr_signature_invalid',
  400,
  'The CSR signature does not verify with the key it carries (no proof of possession).',
  'Sign the CSR with the private key of the public key it contains.',
);
export const KeyPolicyViolationError = defineError(
  'key_policy_violation',
  400,
  'The key in the CSR is not allowed by the device-binding profile (only ECDSA P-256).',
  'Generate an ECDSA P-256 key (`openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256`).',
);
export const CsrExtensionNotAllowedError = defineError(
  'csr_extension_not_allowed',
  400,
  'The CSR requests extensions; the CA sets every extension from its profile.',
  'Send a CSR without an extensionRequest attribute.',
);
export const DeviceNotFoundError = defineError(
  'device_not_found',
  404,
  'No device with this id in your tenant.',
  'Check the id with `lantern-ca device list`.',
);
export const DeviceRevokedError = defineError(
  'device_revoked',
  403,
  'The device was revoked by an admin; it cannot renew, sync or sign anyone in.',
  'Re-enroll the device with a new token if it was revoked by mistake.',
);
export const DeviceAlreadyRevokedError = defineError(
  'device_already_revoked',
  409,
  'The device is already revoked.',
  'Nothing to do; `lantern-ca device list` shows its status.',
);
export const RenewalTooEarlyError = defineError(
  'renewal_too_early',
  409,
  'The binding certificate is not yet in its renewal window (from 2/3 of its lifetime).',
  'Retry after `details.renewableAt`.',
);
export const RenewalGraceExpiredError = defineError(
  'renewal_grace_expired',
  401,
  'The binding certificate expired longer ago than the renewal grace period allows.',
  'Re-enroll the device with a new enrollment token.',
);
export const DeviceProofInvalidError = defineError(
  'device_proof_invalid',
  401,
  'The device proof is missing, malformed, badly signed or for another request.',
  'Sign a fresh proof with the device key for this method and URL (`Lantern-Device-Proof` header).',
);
export const DeviceProofExpiredError = defineError(
  'device_proof_expired',
  401,
  'The device proof was issued too long ago or in the future (check the device clock).',
  'Sign a fresh proof; proofs live about a minute.',
);
export const DeviceProofReplayedError = defineError(
  'device_proof_replayed',
  401,
  'This device proof (its jti) was already used.',
  'Sign a new proof for every request.',
);
export const BodyHashMismatchError = defineError(
  'body_hash_mismatch',
  401,
  'The device proof covers another body than the one received.',
  'Sign the proof over the exact bytes sent.',
);
export const EnrollmentTokenNotFoundError = defineError(
  'enrollment_token_not_found',
  404,
  'No enrollment token with this id in your tenant.',
  'List tokens with `lantern-ca enroll-token list`.',
);
export const TenantNotFoundError = defineError(
  'tenant_not_found',
  404,
  'No tenant with this id or slug.',
  'Create it with `lantern-ca tenant create` or check the spelling.',
);
export const TenantExistsError = defineError(
  'tenant_exists',
  409,
  'A tenant with this slug already exists.',
  'Choose another slug.',
);
export const CaNotInitializedError = defineError(
  'ca_not_initialized',
  500,
  'The data directory holds no CA material.',
  'Run `lantern-ca init --data-dir D` first.',
);
export const CaAlreadyInitializedError = defineError(
  'ca_already_initialized',
  409,
  'The data directory already holds a CA; `init` never overwrites one.',
  'Use that CA (`lantern-ca serve --data-dir D`), or give `init` a new, empty directory.',
);
export const CaAlreadyRunningError = defineError(
  'ca_already_running',
  409,
  'Another `lantern-ca serve` holds this SQLite data directory; two would corrupt each other.',
  'Stop the other one first, or run several instances on PostgreSQL.',
);
export const CaNotRunningError = defineError(
  'ca_not_running',
  503,
  'This command changes state and goes through the running service, but none runs for this data directory.',
  'Start it (`lantern-ca serve --data-dir D`) or give `--url` of the running CA.',
);
export const PassphraseMissingError = defineError(
  'passphrase_missing',
  500,
  'No passphrase for the CA keys was found in LANTERN_CA_PASSPHRASE or the passphrase file.',
  'Set LANTERN_CA_PASSPHRASE or --passphrase-file (never on the command line).',
);

export const CredentialRejectedError = defineError(
  'credential_rejected',
  400,
  'The new password or PIN does not meet its policy (length, digits, predictability).',
  'Passwords need at least 8 characters; learner PINs 4 to 8 digits, not 1234 or 0000.',
);
export const UserExistsError = defineError(
  'user_exists',
  409,
  'A user with this username already exists in the tenant.',
  'Choose another username; usernames are unique per tenant.',
);
export const UserNotFoundError = defineError(
  'user_not_found',
  404,
  'No user with this id in your tenant.',
  'Check the id with `lantern-ca user list`.',
);
export const InvalidCredentialsError = defineError(
  'invalid_credentials',
  401,
  'The tenant, username or password is wrong (which one is not said, on purpose).',
  'Check all three; after repeated failures the account locks for a while.',
);
export const AccountLockedError = defineError(
  'account_locked',
  423,
  'The account is locked, after too many failed sign-ins or by an admin.',
  'Wait until `details.lockedUntil`, or ask an admin to unlock it (`lantern-ca user unlock`).',
);
export const AccountSuspendedError = defineError(
  'account_suspended',
  403,
  'An admin suspended this account.',
  'Ask an admin to reactivate it.',
);
export const RefreshTokenInvalidError = defineError(
  'refresh_token_invalid',
  401,
  'The refresh token is unknown, expired, or its session has ended.',
  'Sign in again.',
);
export const RefreshTokenReusedError = defineError(
  'refresh_token_reused',
  401,
  'A refresh token was used twice; the whole session family was revoked as a precaution.',
  'Sign in again; if you did not reuse a token, it may have been stolen.',
);
export const SessionNotFoundError = defineError(
  'session_not_found',
  404,
  'No session with this id in your tenant.',
  'Check the id in the event log (`lantern-ca events`).',
);
export const GrantNotFoundError = defineError(
  'grant_not_found',
  404,
  'No offline grant with this id in your tenant.',
  'Check the id in the event log (`lantern-ca events`).',
);
export const ApiKeyNotFoundError = defineError(
  'api_key_not_found',
  404,
  'No API key with this id in your tenant.',
  'Check the key id (key_…), not the key itself.',
);

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

export const TokenKeyNotFoundError = defineError(
  'token_key_not_found',
  404,
  'No token signing key with this kid in the key ring (it may have been removed already).',
  'List the keys with `lantern-ca keys list`.',
);

export const KeyRingBusyError = defineError(
  'key_ring_busy',
  409,
  'Other CA instances kept changing the token key ring while this change was being saved; nothing of it was saved.',
  'Run the command again.',
);

export const TokenLifetimeExceededError = defineError(
  'token_lifetime_exceeded',
  500,
  "A token was to be signed without `exp` or with an `exp` past the key ring's maximum token lifetime, so it could outlive its key's publication.",
  'Issue a shorter-lived token, or raise maxTokenLifetimeMs (retired keys then stay published longer).',
);

export const AuditChainBrokenError = defineError(
  'audit_chain_broken',
  500,
  'The event hash chain or a signed audit checkpoint does not verify: stored events were changed, deleted or rewritten outside the service.',
  'Keep the database as evidence, restore a backup taken before the broken position, and find out who could write to it.',
);

const MfaRequiredBase = defineError(
  'mfa_required',
  401,
  'The password was right, but this account also needs a second factor (`methods` lists which); nothing was counted as a failure.',
  'Send the sign-in again with a current code from the authenticator app (`totp`).',
);
/**
 * `{ code, message, methods, risk? }`: the client reads which second factors it may send, and
 * with an adaptive-MFA challenge why (`risk: { level, reasons }`).
 */
export class MfaRequiredError extends MfaRequiredBase {
  override toJSON() {
    const methods = this.details?.['methods'];
    const risk = this.details?.['risk'];
    return {
      ...super.toJSON(),
      ...(methods === undefined ? {} : { methods }),
      ...(risk === undefined ? {} : { risk }),
    };
  }
}
const MfaEnrollmentRequiredBase = defineError(
  'mfa_enrollment_required',
  401,
  "The password was right, but this role requires a second factor and the user's was retired (a revoked device held it, or an admin reset it): a new one must be enrolled first. No session was issued.",
  'Enrol a new TOTP with `enrollmentToken` (POST /v1/mfa/totp/enroll, then /confirm; it can do nothing else and lasts 5 minutes), then sign in with the password and a code.',
);
/** `{ code, message, methods, enrollmentToken, expiresIn }`. */
export class MfaEnrollmentRequiredError extends MfaEnrollmentRequiredBase {
  override toJSON() {
    return { ...super.toJSON(), ...this.details };
  }
}
export const MfaFailedError = defineError(
  'mfa_failed',
  401,
  'The second-factor code is wrong, outside the ±1 step window, or was already used; it counts towards the lockout like a wrong password.',
  'Wait for the next code in the authenticator app and send it once; check the device clock if codes never work.',
);
export const RiskDeniedError = defineError(
  'risk_denied',
  401,
  "The password was right, but this sign-in looked risky (the tenant's adaptive-MFA rules) and the account has no second factor to prove it, and the tenant's policy denies such sign-ins.",
  'Sign in from a usual device and place, or ask an admin to enrol a second factor (TOTP or passkey) for the account.',
);
export const RiskPolicyInvalidError = defineError(
  'risk_policy_invalid',
  400,
  'The adaptive-MFA policy names a malformed CIDR block, an unknown time zone or an empty hour window.',
  'Send locations as `a.b.c.d/n` (or an IPv6 prefix), an IANA time zone such as `Africa/Nairobi`, and `from` different from `to`.',
);
export const IdempotencyKeyInvalidError = defineError(
  'idempotency_key_invalid',
  400,
  'The Idempotency-Key header is empty, longer than 255 characters or holds characters other than printable ASCII.',
  'Send a fresh random value (a UUID or ULID) per intended operation, and the same one on its retries.',
);
export const IdempotencyKeyReusedError = defineError(
  'idempotency_key_reused',
  422,
  'This Idempotency-Key was already used on this route by this caller with a different request body.',
  'Retry with exactly the body first sent under this key, or use a new key for a new operation.',
);
export const IdempotencyKeyInProgressError = defineError(
  'idempotency_key_in_progress',
  409,
  'A request with this Idempotency-Key is still being processed.',
  'Wait for the first request to finish, then retry: the stored answer is replayed.',
);
export const StepUpRequiredError = defineError(
  'step_up_required',
  403,
  'This action needs an access token from a sign-in with a second factor (`otp` or `mfa` in `amr`).',
  'Sign in again with your password and a TOTP code, or with a passkey that verifies you, then retry with the new access token.',
);
export const TotpNotPendingError = defineError(
  'totp_not_pending',
  409,
  'There is no TOTP enrolment waiting for confirmation (never started, already confirmed, or older than 15 minutes).',
  'Start again with `POST /v1/mfa/totp/enroll` and confirm with a code within 15 minutes.',
);
export const TotpNotEnrolledError = defineError(
  'totp_not_enrolled',
  404,
  'The user has no active TOTP second factor.',
  'Nothing to remove; enrol with `POST /v1/mfa/totp/enroll`.',
);
export const WebAuthnChallengeInvalidError = defineError(
  'webauthn_challenge_invalid',
  401,
  'The WebAuthn response answers no outstanding challenge of this CA: unknown, already used, expired (2 minutes) or for another ceremony.',
  'Ask for fresh options (`/v1/auth/webauthn/options` or `/v1/mfa/webauthn/register/options`) and answer them once.',
);
export const WebAuthnResponseInvalidError = defineError(
  'webauthn_response_invalid',
  401,
  'The WebAuthn response does not verify: wrong origin or RP ID, bad signature, user not present, or malformed client data or authenticator data.',
  'Run the ceremony again in the browser on one of the CA origins; a tampered response never verifies.',
);
export const WebAuthnCredentialUnknownError = defineError(
  'webauthn_credential_unknown',
  401,
  'The passkey is not registered for this tenant (or not for the user the options were asked for).',
  'Sign in with your password, then register this passkey (`POST /v1/mfa/webauthn/register/options`).',
);
export const WebAuthnCounterRegressedError = defineError(
  'webauthn_counter_regressed',
  401,
  "The authenticator's signature counter did not move past the stored one: the passkey may have been cloned. It counts towards the lockout.",
  'Use the original authenticator; if this persists, have an admin remove the passkey and register it again.',
);
export const WebAuthnUserVerificationRequiredError = defineError(
  'webauthn_user_verification_required',
  401,
  "The tenant's MFA policy requires user verification (PIN or biometric on the authenticator) and the authenticator did not perform it.",
  'Use an authenticator that verifies the user (set a PIN or enrol a fingerprint) and allow the check when asked.',
);
export const WebAuthnPasswordRequiredError = defineError(
  'webauthn_password_required',
  401,
  "The tenant's MFA policy makes passkeys a second factor for this role: the sign-in needs the password as well.",
  'Send `password` with the passkey response to `POST /v1/auth/webauthn/verify`.',
);
export const WebAuthnCredentialExistsError = defineError(
  'webauthn_credential_exists',
  409,
  'This passkey is already registered.',
  'Nothing to do; list your passkeys with `GET /v1/mfa/webauthn`.',
);
export const WebAuthnCredentialNotFoundError = defineError(
  'webauthn_credential_not_found',
  404,
  'The user has no passkey with this credential id.',
  'List the passkeys with `GET /v1/admin/users/:id/mfa`.',
);
export const SsoNotConfiguredError = defineError(
  'sso_not_configured',
  404,
  'The tenant has no OpenID Connect provider configured, so it has no single sign-on.',
  'An admin sets one with `POST /v1/admin/tenants/:id/sso` or `lantern-ca tenant sso set`.',
);
export const SsoStateInvalidError = defineError(
  'sso_state_invalid',
  400,
  'The callback names no sign-in this CA started: the state is unknown, expired (10 minutes) or already used.',
  'Start the sign-in again from `GET /v1/sso/:tenant/start`; a callback URL works once.',
);
export const SsoDeniedError = defineError(
  'sso_denied',
  400,
  'The identity provider sent the browser back with an error instead of a code (the person cancelled, or the provider refused).',
  "Start the sign-in again; the `details.error` field has the provider's error code.",
);
export const SsoCodeRejectedError = defineError(
  'sso_code_rejected',
  400,
  'The identity provider refused to exchange the authorization code: it was used already, expired, or the PKCE verifier does not match.',
  'Start the sign-in again; a code is good for one exchange.',
);
export const SsoProviderUnavailableError = defineError(
  'sso_provider_unavailable',
  502,
  "The tenant's identity provider did not answer as OpenID Connect discovery, its key set or token endpoint should.",
  "Check the provider's issuer URL with `lantern-ca tenant sso show`, and that this CA reaches it.",
);
export const SsoIdTokenInvalidError = defineError(
  'sso_id_token_invalid',
  401,
  "The provider's ID token failed validation (signature by its published keys, issuer, audience, authorized party, expiry, nonce); `details.reason` says which.",
  'Start the sign-in again; if it keeps failing, check the client id and issuer configured for the tenant.',
);
export const SsoIdentityUnlinkedError = defineError(
  'sso_identity_unlinked',
  403,
  "The provider's account is linked to no user of this tenant, and the tenant's rules do not allow linking it now (no admin link; no verified email of a verified domain matching a user).",
  "An admin links the account: `POST /v1/admin/users/:id/sso-identities` with its subject, or adds the email domain to the tenant's `verifiedDomains`.",
);
export const SsoHandoffPendingError = defineError(
  'sso_handoff_pending',
  409,
  'The browser part of this device sign-in has not finished yet.',
  'Finish the sign-in in the browser, then ask again; the hand-off lasts 10 minutes.',
);
export const SsoHandoffCodeWrongError = defineError(
  'sso_handoff_code_wrong',
  400,
  'The code typed on the confirmation page is not the one the device shows.',
  'Type the code the device printed when the sign-in started (lantern-agent signin sso); only confirm a sign-in you started yourself on a device in front of you.',
);
export const SsoHandoffInvalidError = defineError(
  'sso_handoff_invalid',
  404,
  'No device sign-in with this id waits for this device: unknown, expired, already redeemed, or started by another device.',
  'Start a new one with `POST /v1/sso/:tenant/handoffs` from the device.',
);
export const LoginOverloadedError = defineError(
  'login_overloaded',
  429,
  'Every password check this CA runs at once is taken; the sign-in was not attempted.',
  'Retry after the seconds in the `retry-after` header; an agent signs in offline meanwhile.',
);

export const RootKeyUnavailableError = defineError(
  'root_key_unavailable',
  409,
  'Signing an issuing CA needs the offline root key, and it is not in the root directory given.',
  'Mount the removable media that holds the root (`root.key.pem`, made by `lantern-ca root init` or `init --root-dir`) and give its directory as --root-dir.',
);
export const RootPassphraseMissingError = defineError(
  'root_passphrase_missing',
  500,
  'The offline root key has its own passphrase, and none was found in LANTERN_CA_ROOT_PASSPHRASE or --root-passphrase-file.',
  'Set LANTERN_CA_ROOT_PASSPHRASE or give --root-passphrase-file on the machine that holds the root (never the online CA passphrase, never on the command line).',
);
export const IssuingCertificateMismatchError = defineError(
  'issuing_certificate_mismatch',
  409,
  'The issuing CA certificate brought back from the offline root is not for the key this CA is waiting for, or is not a CA certificate signed by its root.',
  'Sign the CSR that `lantern-ca ca rotate-issuing --csr-out` wrote (`lantern-ca root sign-issuing`), and install the certificate that came out of that.',
);
export const RotationNotPendingError = defineError(
  'rotation_not_pending',
  409,
  'No issuing CA key is waiting for its certificate in this data directory.',
  'Start the rotation first: `lantern-ca ca rotate-issuing --data-dir D --csr-out F`.',
);
export const KeyPassphraseWrongError = defineError(
  'key_passphrase_wrong',
  503,
  'A CA key file did not open with the passphrase given (the CA passphrase, or the root passphrase for the root key).',
  'Give the passphrase the key was written with (LANTERN_CA_PASSPHRASE / LANTERN_CA_ROOT_PASSPHRASE or their files, never argv).',
);
export const KeyFileCorruptError = defineError(
  'key_file_corrupt',
  503,
  'A CA key file is not in a format this version reads, or its seal does not verify (damaged or edited).',
  'Restore the key file from a backup; an edited KDF header or ciphertext never opens.',
);
export const IssuerUnknownError = defineError(
  'issuer_unknown',
  404,
  'No issuing CA of this service has that subject key identifier.',
  "Use the key identifier (40 hex digits) from the certificate's authority key identifier or its CRL distribution point, or omit `issuer` for the current issuing CA.",
);

export const HsmUnavailableError = defineError(
  'hsm_unavailable',
  503,
  'The PKCS#11 module or token holding the CA keys did not answer: the module did not load, or the token refused an operation.',
  'Check `--pkcs11-module` (LANTERN_PKCS11_MODULE), that the HSM is reachable, and its own logs; docs/security.md (CA keys).',
);
export const HsmTokenNotFoundError = defineError(
  'hsm_token_not_found',
  503,
  'The PKCS#11 module has no token with the configured label.',
  'Give the label the token was initialised with (`--pkcs11-token-label`, LANTERN_PKCS11_TOKEN_LABEL); `softhsm2-util --show-slots` lists them for SoftHSM.',
);
export const HsmPinMissingError = defineError(
  'hsm_pin_missing',
  500,
  'The CA keys are on a PKCS#11 token, and no PIN for it was given.',
  'Set LANTERN_PKCS11_PIN, LANTERN_PKCS11_PIN_FILE or `--pkcs11-pin-file` (never on the command line).',
);
export const HsmPinIncorrectError = defineError(
  'hsm_pin_incorrect',
  503,
  'The PKCS#11 token refused the PIN; the service did not start with its keys.',
  'Give the user PIN the token was initialised with; each wrong try counts toward the token locking the PIN.',
);
export const HsmPinLockedError = defineError(
  'hsm_pin_locked',
  503,
  'The PKCS#11 token has locked its user PIN after too many wrong tries.',
  "The token's security officer resets the user PIN with the HSM's own tools; the CA cannot.",
);
export const HsmKeyMissingError = defineError(
  'hsm_key_missing',
  503,
  'A key the data directory names (issuing CA or token key) is not on the PKCS#11 token.',
  'Point the service at the token the CA was initialised with; a token that lost its keys means a new issuing CA and token keys.',
);
export const HsmOperationUnsupportedError = defineError(
  'hsm_operation_unsupported',
  409,
  'This command works only with file-held CA keys, and this CA keeps its issuing key on a PKCS#11 token.',
  'See docs/security.md (CA keys) for what the PKCS#11 setup covers.',
);
export const InvitationInvalidError = defineError(
  'invitation_invalid',
  401,
  'The invitation token is malformed, unknown, or of another school than the one named.',
  'Open the link from the invitation email as it is, or ask an admin to invite you again.',
);
export const InvitationExpiredError = defineError(
  'invitation_expired',
  410,
  'The invitation is past its time to live.',
  'Ask an admin to invite you again (`lantern-ca invite create`).',
);
export const InvitationUsedError = defineError(
  'invitation_used',
  409,
  'The invitation was already accepted; each invitation is single use.',
  'Sign in with the account you created when you accepted it.',
);
export const InvitationRevokedError = defineError(
  'invitation_revoked',
  410,
  'An admin withdrew this invitation before it was accepted.',
  'Ask an admin of your school whether to invite you again.',
);
export const InvitationNotFoundError = defineError(
  'invitation_not_found',
  404,
  'The tenant has no invitation with this id.',
  'List invitations with `lantern-ca invite list --tenant T`.',
);
export const OrganizationNotFoundError = defineError(
  'organization_not_found',
  404,
  'The tenant has no organisation (school) with this id.',
  'List them with `lantern-ca member orgs --tenant T`, or use the tenant id for the whole district.',
);
export const MembershipNotFoundError = defineError(
  'membership_not_found',
  404,
  'The tenant has no membership with this id, or the user is not a member of that organisation.',
  'List memberships with `lantern-ca member list --tenant T`.',
);
export const SelfServiceTokenInvalidError = defineError(
  'self_service_token_invalid',
  400,
  'The verification or reset link is unknown, expired, already used, or was cut short.',
  'Ask for a new link (`POST /v1/self-service/password-reset` or `/email-verification`) and open it whole, once, within its lifetime.',
);
export const UserEmailMissingError = defineError(
  'user_email_missing',
  409,
  'The user has no email address on record (or cannot receive a reset now), so no link can be sent.',
  'Set their email address first, or set a password for them in the admin console.',
);
export const WebhookUrlNotAllowedError = defineError(
  'webhook_url_not_allowed',
  400,
  'Webhook endpoints must be https:// URLs on a public address, without credentials (http://127.0.0.1 only when the CA runs with --webhooks-allow-loopback-http).',
  'Give an https:// endpoint that the receiving system serves with a valid certificate.',
);
export const WebhookNotFoundError = defineError(
  'webhook_not_found',
  404,
  'No webhook subscription or delivery with this id in your tenant.',
  'List them with `lantern-ca webhook list` (or `GET /v1/admin/webhooks`).',
);
export const WebhookEventTypeUnknownError = defineError(
  'webhook_event_type_unknown',
  400,
  'A subscription names an event type that is not a produced type of the event catalogue.',
  'Pick event types from `GET /v1/schemas` (direction `produced`), e.g. `identity.password.reset_requested`.',
);

export const caErrors = [
  EnrollmentTokenInvalidError,
  EnrollmentTokenExpiredError,
  EnrollmentTokenUsedError,
  EnrollmentTokenRevokedError,
  EnrollmentTokenNotFoundError,
  TenantMismatchError,
  TpmAttestationInvalidError,
  HardwareKeyRekeyError,
  TenantNotFoundError,
  TenantExistsError,
  CsrInvalidError,
  CsrSignatureInvalidError,
  KeyPolicyViolationError,
  CsrExtensionNotAllowedError,
  DeviceNotFoundError,
  DeviceRevokedError,
  DeviceAlreadyRevokedError,
  RenewalTooEarlyError,
  RenewalGraceExpiredError,
  DeviceProofInvalidError,
  DeviceProofExpiredError,
  DeviceProofReplayedError,
  BodyHashMismatchError,
  CaNotInitializedError,
  CaAlreadyInitializedError,
  CaAlreadyRunningError,
  CaNotRunningError,
  PassphraseMissingError,
  CredentialRejectedError,
  UserExistsError,
  UserNotFoundError,
  InvalidCredentialsError,
  AccountLockedError,
  AccountSuspendedError,
  RefreshTokenInvalidError,
  RefreshTokenReusedError,
  SessionNotFoundError,
  GrantNotFoundError,
  ApiKeyNotFoundError,
  KeyRingLockedError,
  KeyRingCorruptError,
  TokenKeyNotFoundError,
  KeyRingBusyError,
  TokenLifetimeExceededError,
  MfaRequiredError,
  MfaEnrollmentRequiredError,
  MfaFailedError,
  StepUpRequiredError,
  RiskDeniedError,
  RiskPolicyInvalidError,
  IdempotencyKeyInvalidError,
  IdempotencyKeyReusedError,
  IdempotencyKeyInProgressError,
  TotpNotPendingError,
  TotpNotEnrolledError,
  WebAuthnChallengeInvalidError,
  WebAuthnResponseInvalidError,
  WebAuthnCredentialUnknownError,
  WebAuthnCounterRegressedError,
  WebAuthnUserVerificationRequiredError,
  WebAuthnPasswordRequiredError,
  WebAuthnCredentialExistsError,
  WebAuthnCredentialNotFoundError,
  AuditChainBrokenError,
  LoginOverloadedError,
  SsoNotConfiguredError,
  SsoStateInvalidError,
  SsoDeniedError,
  SsoCodeRejectedError,
  SsoProviderUnavailableError,
  SsoIdTokenInvalidError,
  SsoIdentityUnlinkedError,
  SsoHandoffPendingError,
  SsoHandoffCodeWrongError,
  SsoHandoffInvalidError,
  RootKeyUnavailableError,
  RootPassphraseMissingError,
  IssuingCertificateMismatchError,
  RotationNotPendingError,
  KeyPassphraseWrongError,
  KeyFileCorruptError,
  IssuerUnknownError,
  HsmUnavailableError,
  HsmTokenNotFoundError,
  HsmPinMissingError,
  HsmPinIncorrectError,
  HsmPinLockedError,
  HsmKeyMissingError,
  HsmOperationUnsupportedError,
  InvitationInvalidError,
  InvitationExpiredError,
  InvitationUsedError,
  InvitationRevokedError,
  InvitationNotFoundError,
  OrganizationNotFoundError,
  MembershipNotFoundError,
  SelfServiceTokenInvalidError,
  UserEmailMissingError,
  WebhookUrlNotAllowedError,
  WebhookNotFoundError,
  WebhookEventTypeUnknownError,
] as const;

export type CaErrorCode = (typeof caErrors)[number]['definition']['code'];
