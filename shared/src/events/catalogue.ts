import type { JsonSchema } from './schema-parts.js';
import {
  AUTH_METHODS,
  MEMBER_PERMISSIONS,
  MEMBER_ROLES,
  ROLES,
  SSO_PROVIDERS,
  boolean,
  dateTime,
  enumOf,
  hex,
  id,
  nonNegativeInteger,
  object,
  serialHex,
  shortText,
  thumbprint,
} from './schema-parts.js';

export interface EventDefinition {
  /** Dotted name without the version, e.g. `identity.device.revoked`. */
  readonly type: string;
  readonly version: number;
  /** Kind of aggregate the event belongs to (its stream in the event store). */
  readonly aggregate: string;
  readonly direction: 'produced' | 'consumed';
  readonly payload: JsonSchema;
  /** A valid payload, used by the docs and the schema tests. */
  readonly example: Record<string, unknown>;
  /**
   * Who appends this version. For a produced event, the source files that do (repository paths;
   * a test checks each one emits the type, and that no emitter is missing); empty for a version
   * nothing emits any more, whose stored events are read through an upcaster. For a consumed
   * event, the outside service that publishes it.
   */
  readonly producers: readonly string[];
  /**
   * What reads it: source files (a test checks each names the type) or, for what leaves the CA
   * only on the IDENTITY stream, the outside service that subscribes.
   */
  readonly consumers: readonly string[];
}

const USER = 'usr_01J9Z3YQ8M6W4Q9V2K7T5R3N1B';
const DEVICE = 'dev_01J9Z3YQ8M6W4Q9V2K7T5R3N1C';
const SESSION = 'ses_01J9Z3YQ8M6W4Q9V2K7T5R3N1D';
const GRANT = 'grt_01J9Z3YQ8M6W4Q9V2K7T5R3N1E';
const KEY = 'key_01J9Z3YQ8M6W4Q9V2K7T5R3N1F';
const TOKEN = 'tok_01J9Z3YQ8M6W4Q9V2K7T5R3N1G';
const TENANT = 'ten_01J9Z3YQ8M6W4Q9V2K7T5R3N1H';
const ORG = 'org_01J9Z3YQ8M6W4Q9V2K7T5R3N1J';
const INVITATION = 'inv_01J9Z3YQ8M6W4Q9V2K7T5R3N1K';
const MEMBERSHIP = 'mem_01J9Z3YQ8M6W4Q9V2K7T5R3N1M';
const ASSIGNMENT = 'asg_01J9Z3YQ8M6W4Q9V2K7T5R3N1N';
const WHEN = '2026-11-23T10:00:00.000Z';
const THUMBPRINT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
const WEBHOOK = 'whk_01J9Z3YQ8M6W4Q9V2K7T5R3N1J';
const FINGERPRINT = 'a3f1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

const loginFailureReasons = [
  'invalid_credentials',
  'unknown_user',
  'locked',
  'suspended',
  'mfa_required',
  'mfa_failed',
  'device_revoked',
  'binding_expired',
  'binding_not_yet_valid',
  'clock_rollback',
  'no_grant',
  'grant_expired',
  'grant_revoked',
  'user_revoked',
  'offline_window_exceeded',
  'method_not_allowed',
  'passkey_failed',
];

const revocationReasons = [
  'lost',
  'stolen',
  'compromised',
  'decommissioned',
  'superseded',
  'admin',
  'logout',
  'rotation_reuse',
  'user_revoked',
  'user_locked',
  'user_deleted',
  'device_revoked',
  'grant_revoked',
  'expired',
  'password_reset',
];

/** What the adaptive-MFA rules may name (ca-service/src/signin/sign-in-risk.ts). */
const riskReasons = [
  'new_device',
  'unusual_hour',
  'recent_failures',
  'ip_failures',
  'impossible_travel',
];

/** v2 of `session.revoked`: Lantern's reasons and those of the identity schemas. */
const sessionRevocationReasons = [
  ...revocationReasons,
  'admin_wipe',
  'password_reset',
  'security_incident',
  'mfa_changed',
  'gdpr_erasure',
];

/** v2 of `logged_in`: RFC 8176 methods, and those the identity schemas add. */
const AMR = [...AUTH_METHODS, 'totp', 'webauthn', 'sms', 'recovery_codes', 'sso', 'magic_link'];

const event = (definition: EventDefinition): EventDefinition => definition;

/** An organisation: the tenant itself (the district, `ten_…`) or a school under it (`org_…`). */
const organizationId = {
  type: 'string',
  pattern: '^(ten|org)_[0-9A-HJKMNP-TV-Z]{26}$',
};

/** v2 user events carry personal fields sealed with a per-user key (crypto-shredding). */
const PERSONAL_DATA = {
  type: 'string',
  pattern: '^pii1\\.[A-Za-z0-9_-]{16}\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{22}$',
  maxLength: 4096,
};
const SEALED = 'pii1.AAAAAAAAAAAAAAAA.c2VhbGVk.AAAAAAAAAAAAAAAAAAAAAA';

export const EVENT_CATALOGUE: readonly EventDefinition[] = [
  event({
    type: 'identity.tenant.created',
    version: 1,
    producers: ['ca-service/src/tenants/tenant-commands.ts'],
    consumers: ['ca-service/src/tenants/tenants-projection.ts'],
    aggregate: 'tenant',
    direction: 'produced',
    payload: object({ tenantId: id('ten'), name: shortText(), slug: shortText(63) }),
    example: { tenantId: TENANT, name: 'Hillside Primary', slug: 'hillside' },
  }),
  event({
    type: 'identity.user.registered',
    version: 1,
    producers: [],
    consumers: ['ca-service/src/users/users-projection.ts'],
    aggregate: 'user',
    direction: 'produced',
    payload: object(
      {
        userId: id('usr'),
        username: shortText(64),
        role: enumOf(...ROLES),
        status: enumOf('active', 'pending_verification'),
        email: { type: 'string', format: 'email', maxLength: 254 },
        displayName: shortText(),
      },
      ['userId', 'username', 'role', 'status'],
    ),
    example: { userId: USER, username: 'amina.k', role: 'learner', status: 'active' },
  }),
  event({
    type: 'identity.user.updated',
    version: 1,
    producers: [],
    consumers: ['ca-service/src/users/users-projection.ts'],
    aggregate: 'user',
    direction: 'produced',
    payload: object(
      {
        userId: id('usr'),
        role: enumOf(...ROLES),
        email: { type: 'string', format: 'email', maxLength: 254 },
        displayName: shortText(),
      },
      ['userId'],
    ),
    example: { userId: USER, role: 'teacher' },
  }),
  event({
    type: 'identity.user.password_set',
    version: 1,
    producers: [
      'ca-service/src/members/invitations.ts',
      'ca-service/src/self-service/password-reset.ts',
      'ca-service/src/users/users.ts',
    ],
    consumers: [],
    aggregate: 'user',
    direction: 'produced',
    payload: object({
      userId: id('usr'),
      kind: enumOf('password', 'pin'),
      reason: enumOf('registration', 'admin_reset', 'user_change', 'rehash'),
    }),
    example: { userId: USER, kind: 'password', reason: 'registration' },
  }),
  event({
    type: 'identity.user.suspended',
    version: 1,
    producers: ['ca-service/src/users/users.ts'],
    consumers: [
      'ca-service/src/users/users-projection.ts',
      'ca-service/src/revocation/revocation-feed-projection.ts',
    ],
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), reason: shortText() }, ['userId']),
    example: { userId: USER, reason: 'left the school' },
  }),
  event({
    type: 'identity.user.reactivated',
    version: 1,
    producers: ['ca-service/src/users/users.ts'],
    consumers: ['ca-service/src/users/users-projection.ts'],
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr') }),
    example: { userId: USER },
  }),
  event({
    type: 'identity.user.erased',
    version: 1,
    producers: ['ca-service/src/users/users.ts'],
    consumers: [
      'ca-service/src/users/users-projection.ts',
      'ca-service/src/revocation/revocation-feed-projection.ts',
      'ca-service/src/mfa/mfa-policy.ts',
      'ca-service/src/mfa/webauthn-credentials.ts',
      'ca-service/src/members/members-projection.ts',
      'ca-service/src/mfa/risk-policy.ts',
      'ca-service/src/sso/sso-providers.ts',
    ],
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), requestId: shortText(64) }, ['userId']),
    example: { userId: USER, requestId: 'gdpr_42' },
  }),
  event({
    type: 'identity.user.registered',
    version: 2,
    producers: [],
    consumers: ['ca-service/src/users/users-projection.ts'],
    aggregate: 'user',
    direction: 'produced',
    payload: object(
      {
        userId: id('usr'),
        role: enumOf(...ROLES),
        status: enumOf('active', 'pending_verification'),
        personalData: PERSONAL_DATA,
      },
      ['userId', 'role', 'status', 'personalData'],
    ),
    example: { userId: USER, role: 'learner', status: 'active', personalData: SEALED },
  }),
  event({
    type: 'identity.user.updated',
    version: 2,
    producers: ['ca-service/src/users/update-user.ts'],
    consumers: ['ca-service/src/users/users-projection.ts'],
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), role: enumOf(...ROLES), personalData: PERSONAL_DATA }, [
      'userId',
    ]),
    example: { userId: USER, personalData: SEALED },
  }),
  event({
    type: 'identity.user.registered',
    version: 3,
    aggregate: 'user',
    direction: 'produced',
    producers: [
      'ca-service/src/inbox/inbox-processor.ts',
      'ca-service/src/members/invitations.ts',
      'ca-service/src/users/users.ts',
    ],
    consumers: ['ca-service/src/users/users-projection.ts'],
    // The identity schemas' fields, but `primaryEmail` stays sealed in `personalData` with the
    // username (crypto-shredding), and `admin` names an account an admin created.
    payload: object({
      userId: id('usr'),
      role: enumOf(...ROLES),
      status: enumOf('active', 'pending_verification'),
      personalData: PERSONAL_DATA,
      emailVerified: boolean,
      homeTenantId: id('ten'),
      registrationSource: enumOf('admin', 'self', 'sso_jit', 'invite', 'bulk_import'),
      createdAt: dateTime,
    }),
    example: {
      userId: USER,
      role: 'learner',
      status: 'active',
      personalData: SEALED,
      emailVerified: false,
      homeTenantId: TENANT,
      registrationSource: 'admin',
      createdAt: WHEN,
    },
  }),
  event({
    type: 'identity.user.email_verified',
    version: 1,
    producers: [
      'ca-service/src/members/invitations.ts',
      'ca-service/src/self-service/email-verification.ts',
    ],
    consumers: ['ca-service/src/users/users-projection.ts'],
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), verifiedAt: dateTime }),
    example: { userId: USER, verifiedAt: WHEN },
  }),
  event({
    type: 'identity.user.logged_in',
    version: 1,
    producers: [],
    consumers: [
      'ca-service/src/users/users-projection.ts',
      'ca-service/src/observability/metrics.ts',
      'ca-service/src/sync/device-authority.ts',
      'ca-service/src/sync/sync-service.ts',
    ],
    aggregate: 'user',
    direction: 'produced',
    payload: object(
      {
        userId: id('usr'),
        sessionId: id('ses'),
        offline: boolean,
        deviceId: id('dev'),
        grantId: id('grt'),
        amr: { type: 'array', items: enumOf(...AUTH_METHODS), minItems: 1, uniqueItems: true },
      },
      ['userId', 'sessionId', 'offline', 'amr'],
    ),
    example: { userId: USER, sessionId: SESSION, offline: true, deviceId: DEVICE, amr: ['pwd'] },
  }),
  event({
    type: 'identity.user.logged_in',
    version: 2,
    aggregate: 'user',
    direction: 'produced',
    producers: ['agent/src/signin/signin-events.ts', 'ca-service/src/signin/issue-login.ts'],
    consumers: [
      'ca-service/src/users/users-projection.ts',
      'ca-service/src/observability/metrics.ts',
      'ca-service/src/sync/device-authority.ts',
      'ca-service/src/sync/sync-service.ts',
    ],
    // The identity schemas' fields without `ip` and `ua`: personal data that the published,
    // exported events do not carry (the request log has them, salted).
    payload: object(
      {
        userId: id('usr'),
        sessionId: id('ses'),
        tenantId: id('ten'),
        offline: boolean,
        deviceId: id('dev'),
        grantId: id('grt'),
        amr: { type: 'array', items: enumOf(...AMR), minItems: 1, uniqueItems: true },
        at: dateTime,
        riskScore: { type: 'number', minimum: 0, maximum: 100 },
      },
      ['userId', 'sessionId', 'tenantId', 'offline', 'amr', 'at'],
    ),
    example: {
      userId: USER,
      sessionId: SESSION,
      tenantId: TENANT,
      offline: true,
      deviceId: DEVICE,
      amr: ['pwd'],
      at: WHEN,
    },
  }),
  event({
    type: 'identity.user.login_failed',
    version: 1,
    producers: ['agent/src/signin/signin-events.ts', 'ca-service/src/auth/sign-in-checks.ts'],
    consumers: [
      'ca-service/src/users/users-projection.ts',
      'ca-service/src/sync/device-authority.ts',
      'ca-service/src/http/console-admin-routes.ts',
    ],
    aggregate: 'user',
    direction: 'produced',
    payload: object(
      {
        userId: id('usr'),
        reason: enumOf(...loginFailureReasons),
        offline: boolean,
        deviceId: id('dev'),
        method: enumOf('password', 'pin', 'totp', 'passkey'),
        failureCount: nonNegativeInteger,
      },
      ['reason', 'offline'],
    ),
    example: { userId: USER, reason: 'invalid_credentials', offline: false, failureCount: 1 },
  }),
  event({
    type: 'identity.user.offline_signin_quarantined',
    version: 1,
    producers: ['ca-service/src/sync/sync-service.ts'],
    consumers: ['ca-service/src/sync/quarantine-projection.ts'],
    aggregate: 'user',
    direction: 'produced',
    payload: object({
      userId: id('usr'),
      deviceId: id('dev'),
      signinEventId: id('evt'),
      signedInAt: dateTime,
      deviceRevokedAt: dateTime,
    }),
    example: {
      userId: USER,
      deviceId: DEVICE,
      signinEventId: 'evt_01J9Z3YQ8M6W4Q9V2K7T5R3N1A',
      signedInAt: WHEN,
      deviceRevokedAt: '2026-11-23T09:00:00.000Z',
    },
  }),
  event({
    type: 'identity.user.locked',
    version: 1,
    producers: [
      'agent/src/signin/signin-events.ts',
      'ca-service/src/auth/sign-in-checks.ts',
      'ca-service/src/users/users.ts',
    ],
    consumers: [
      'ca-service/src/users/users-projection.ts',
      'ca-service/src/revocation/revocation-feed-projection.ts',
      'ca-service/src/sync/device-authority.ts',
    ],
    aggregate: 'user',
    direction: 'produced',
    payload: object(
      {
        userId: id('usr'),
        reason: enumOf('too_many_failures', 'admin'),
        lockedUntil: dateTime,
        offline: boolean,
        deviceId: id('dev'),
      },
      ['userId', 'reason'],
    ),
    example: { userId: USER, reason: 'too_many_failures', lockedUntil: WHEN },
  }),
  event({
    type: 'identity.user.unlocked',
    version: 1,
    producers: ['ca-service/src/users/users.ts'],
    consumers: ['ca-service/src/users/users-projection.ts'],
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), reason: enumOf('admin', 'expired') }),
    example: { userId: USER, reason: 'admin' },
  }),
  event({
    type: 'identity.user.mfa_enrolled',
    version: 1,
    producers: [
      'agent/src/passkeys/passkey-registration.ts',
      'ca-service/src/mfa/totp-enrollment.ts',
      'ca-service/src/mfa/webauthn-registration.ts',
    ],
    consumers: [
      'ca-service/src/mfa/webauthn-credentials.ts',
      'ca-service/src/sync/device-authority.ts',
    ],
    aggregate: 'user',
    direction: 'produced',
    payload: object(
      {
        userId: id('usr'),
        kind: enumOf('totp', 'webauthn'),
        credentialId: shortText(1024),
        deviceId: id('dev'),
      },
      ['userId', 'kind'],
    ),
    example: { userId: USER, kind: 'totp' },
  }),
  event({
    type: 'identity.session.created',
    version: 1,
    producers: ['agent/src/signin/signin-events.ts', 'ca-service/src/signin/issue-login.ts'],
    consumers: [
      'ca-service/src/auth/sessions-projection.ts',
      'ca-service/src/sync/device-authority.ts',
      'ca-service/src/sync/sync-service.ts',
    ],
    aggregate: 'session',
    direction: 'produced',
    payload: object(
      {
        sessionId: id('ses'),
        userId: id('usr'),
        offline: boolean,
        deviceId: id('dev'),
        expiresAt: dateTime,
        familyId: shortText(64),
      },
      ['sessionId', 'userId', 'offline', 'expiresAt'],
    ),
    example: { sessionId: SESSION, userId: USER, offline: false, expiresAt: WHEN },
  }),
  event({
    type: 'identity.session.refreshed',
    version: 1,
    producers: ['ca-service/src/auth/refresh.ts'],
    consumers: ['ca-service/src/auth/sessions-projection.ts'],
    aggregate: 'session',
    direction: 'produced',
    payload: object({ sessionId: id('ses'), familyId: shortText(64), expiresAt: dateTime }),
    example: { sessionId: SESSION, familyId: 'fam_1', expiresAt: WHEN },
  }),
  event({
    type: 'identity.session.revoked',
    version: 1,
    producers: [],
    consumers: [
      'ca-service/src/auth/sessions-projection.ts',
      'ca-service/src/revocation/revocation-feed-projection.ts',
      'ca-service/src/sync/device-authority.ts',
    ],
    aggregate: 'session',
    direction: 'produced',
    payload: object(
      { sessionId: id('ses'), userId: id('usr'), reason: enumOf(...revocationReasons) },
      ['sessionId', 'reason'],
    ),
    example: { sessionId: SESSION, userId: USER, reason: 'logout' },
  }),
  event({
    type: 'identity.session.revoked',
    version: 2,
    aggregate: 'session',
    direction: 'produced',
    producers: [
      'agent/src/signin/sign-out.ts',
      'ca-service/src/auth/refresh.ts',
      'ca-service/src/auth/revocations.ts',
      'ca-service/src/users/users.ts',
    ],
    consumers: [
      'ca-service/src/auth/sessions-projection.ts',
      'ca-service/src/revocation/revocation-feed-projection.ts',
      'ca-service/src/sync/device-authority.ts',
    ],
    payload: object(
      {
        sessionId: id('ses'),
        userId: id('usr'),
        tenantId: id('ten'),
        deviceId: id('dev'),
        reason: enumOf(...sessionRevocationReasons),
        at: dateTime,
      },
      ['sessionId', 'userId', 'tenantId', 'reason', 'at'],
    ),
    example: { sessionId: SESSION, userId: USER, tenantId: TENANT, reason: 'logout', at: WHEN },
  }),
  event({
    type: 'identity.enrollment_token.issued',
    version: 1,
    producers: ['ca-service/src/enrollment/enrollment-tokens.ts'],
    consumers: ['ca-service/src/enrollment/enrollment-tokens-projection.ts'],
    aggregate: 'enrollment_token',
    direction: 'produced',
    payload: object(
      { tokenId: id('tok'), expiresAt: dateTime, deviceName: shortText(100), tokenHash: hex(32) },
      ['tokenId', 'expiresAt', 'tokenHash'],
    ),
    example: { tokenId: TOKEN, expiresAt: WHEN, tokenHash: FINGERPRINT },
  }),
  event({
    type: 'identity.enrollment_token.revoked',
    version: 1,
    producers: ['ca-service/src/enrollment/enrollment-tokens.ts'],
    consumers: ['ca-service/src/enrollment/enrollment-tokens-projection.ts'],
    aggregate: 'enrollment_token',
    direction: 'produced',
    payload: object({ tokenId: id('tok') }),
    example: { tokenId: TOKEN },
  }),
  event({
    type: 'identity.enrollment_token.consumed',
    version: 1,
    producers: ['ca-service/src/enrollment/enroll-device.ts'],
    consumers: ['ca-service/src/enrollment/enrollment-tokens-projection.ts'],
    aggregate: 'enrollment_token',
    direction: 'produced',
    payload: object({ tokenId: id('tok'), deviceId: id('dev') }),
    example: { tokenId: TOKEN, deviceId: DEVICE },
  }),
  event({
    type: 'identity.device.enrolled',
    version: 1,
    producers: ['ca-service/src/enrollment/enroll-device.ts'],
    consumers: ['ca-service/src/devices/devices-projection.ts'],
    aggregate: 'device',
    direction: 'produced',
    payload: object(
      {
        deviceId: id('dev'),
        enrollmentTokenId: id('tok'),
        name: shortText(100),
        keyAlgorithm: enumOf('ES256', 'EdDSA'),
        keyThumbprint: thumbprint,
        assurance: enumOf('software', 'hardware', 'attested'),
      },
      ['deviceId', 'enrollmentTokenId', 'keyAlgorithm', 'keyThumbprint', 'assurance'],
    ),
    example: {
      deviceId: DEVICE,
      enrollmentTokenId: TOKEN,
      name: 'Tablet 7, room 3',
      keyAlgorithm: 'ES256',
      keyThumbprint: THUMBPRINT,
      assurance: 'software',
    },
  }),
  event({
    type: 'identity.device.bound_for_offline',
    version: 1,
    producers: [],
    consumers: ['ca-service/src/devices/devices-projection.ts'],
    aggregate: 'device',
    direction: 'produced',
    payload: object({
      deviceId: id('dev'),
      certificateSerial: serialHex,
      certificateFingerprint: hex(32),
      issuerFingerprint: hex(32),
      certificateKid: thumbprint,
      certIssuedAt: dateTime,
      certExpiresAt: dateTime,
      maxOfflineSeconds: { type: 'integer', minimum: 60 },
      certificatePem: { type: 'string', maxLength: 8192 },
    }),
    example: {
      deviceId: DEVICE,
      certificateSerial: '5c2f0a9e3b7d41c6a8e1f0d2b3c4a5e6',
      certificateFingerprint: FINGERPRINT,
      issuerFingerprint: FINGERPRINT,
      certificateKid: THUMBPRINT,
      certIssuedAt: WHEN,
      certExpiresAt: '2026-12-23T10:00:00.000Z',
      maxOfflineSeconds: 1209600,
      certificatePem: '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n',
    },
  }),
  event({
    type: 'identity.device.bound_for_offline',
    version: 2,
    aggregate: 'device',
    direction: 'produced',
    producers: ['ca-service/src/enrollment/enroll-device.ts'],
    consumers: ['ca-service/src/devices/devices-projection.ts'],
    // v1's `certificateKid` was the device key's thumbprint: the schemas' `publicKeyFingerprint`
    // (RFC 7638, SHA-256 of the public key alone). The signing CA is `issuerFingerprint`. A
    // device is shared, so no `userId`.
    payload: object({
      deviceId: id('dev'),
      tenantId: id('ten'),
      publicKeyFingerprint: thumbprint,
      certificateSerial: serialHex,
      certificateFingerprint: hex(32),
      issuerFingerprint: hex(32),
      certIssuedAt: dateTime,
      certExpiresAt: dateTime,
      maxOfflineSeconds: { type: 'integer', minimum: 60 },
      certificatePem: { type: 'string', maxLength: 8192 },
      at: dateTime,
    }),
    example: {
      deviceId: DEVICE,
      tenantId: TENANT,
      publicKeyFingerprint: THUMBPRINT,
      certificateSerial: '5c2f0a9e3b7d41c6a8e1f0d2b3c4a5e6',
      certificateFingerprint: FINGERPRINT,
      issuerFingerprint: FINGERPRINT,
      certIssuedAt: WHEN,
      certExpiresAt: '2026-12-23T10:00:00.000Z',
      maxOfflineSeconds: 1209600,
      certificatePem: '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n',
      at: WHEN,
    },
  }),
  event({
    type: 'identity.device.renewed',
    version: 1,
    producers: [
      'ca-service/src/enrollment/enroll-device.ts',
      'ca-service/src/renewal/renew-device.ts',
    ],
    consumers: ['ca-service/src/devices/devices-projection.ts'],
    aggregate: 'device',
    direction: 'produced',
    payload: object({
      deviceId: id('dev'),
      previousSerial: serialHex,
      certificateSerial: serialHex,
      certificateFingerprint: hex(32),
      certificateKid: thumbprint,
      certIssuedAt: dateTime,
      certExpiresAt: dateTime,
      rekeyed: boolean,
      afterExpiry: boolean,
      certificatePem: { type: 'string', maxLength: 8192 },
    }),
    example: {
      deviceId: DEVICE,
      previousSerial: '5c2f0a9e3b7d41c6a8e1f0d2b3c4a5e6',
      certificateSerial: '6d3f0a9e3b7d41c6a8e1f0d2b3c4a5e7',
      certificateFingerprint: FINGERPRINT,
      certificateKid: THUMBPRINT,
      certIssuedAt: '2026-12-23T10:00:00.000Z',
      certExpiresAt: '2027-01-23T10:00:00.000Z',
      rekeyed: false,
      afterExpiry: false,
      certificatePem: '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n',
    },
  }),
  event({
    type: 'identity.device.revoked',
    version: 1,
    producers: ['ca-service/src/revocation/revoke-device.ts'],
    consumers: [
      'ca-service/src/devices/devices-projection.ts',
      'ca-service/src/revocation/revocation-feed-projection.ts',
    ],
    aggregate: 'device',
    direction: 'produced',
    payload: object({
      deviceId: id('dev'),
      reason: enumOf(...revocationReasons),
      revokedAt: dateTime,
      certificateSerials: { type: 'array', items: serialHex, maxItems: 1000 },
    }),
    example: {
      deviceId: DEVICE,
      reason: 'lost',
      revokedAt: WHEN,
      certificateSerials: ['5c2f0a9e3b7d41c6a8e1f0d2b3c4a5e6'],
    },
  }),
  event({
    type: 'identity.device.clock_rollback_detected',
    version: 1,
    producers: ['agent/src/signin/signin-events.ts'],
    consumers: ['ca-service/src/sync/device-authority.ts'],
    aggregate: 'device',
    direction: 'produced',
    payload: object({
      deviceId: id('dev'),
      wallClock: dateTime,
      trustedTime: dateTime,
      skewSeconds: { type: 'integer' },
    }),
    example: {
      deviceId: DEVICE,
      wallClock: '2026-11-21T10:00:00.000Z',
      trustedTime: WHEN,
      skewSeconds: -172800,
    },
  }),
  event({
    type: 'identity.grant.issued',
    version: 1,
    producers: ['ca-service/src/signin/issue-login.ts'],
    consumers: ['ca-service/src/auth/sessions-projection.ts'],
    aggregate: 'grant',
    direction: 'produced',
    payload: object(
      {
        grantId: id('grt'),
        userId: id('usr'),
        deviceId: id('dev'),
        methods: {
          type: 'array',
          items: enumOf('password', 'pin', 'totp', 'passkey', 'webauthn'),
          minItems: 1,
          uniqueItems: true,
        },
        offlineUntil: dateTime,
        sessionId: id('ses'),
      },
      ['grantId', 'userId', 'deviceId', 'methods', 'offlineUntil'],
    ),
    example: {
      grantId: GRANT,
      userId: USER,
      deviceId: DEVICE,
      methods: ['password'],
      offlineUntil: '2026-12-07T10:00:00.000Z',
    },
  }),
  event({
    type: 'identity.grant.revoked',
    version: 1,
    producers: ['ca-service/src/auth/revocations.ts', 'ca-service/src/users/users.ts'],
    consumers: [
      'ca-service/src/auth/sessions-projection.ts',
      'ca-service/src/revocation/revocation-feed-projection.ts',
    ],
    aggregate: 'grant',
    direction: 'produced',
    payload: object(
      { grantId: id('grt'), userId: id('usr'), reason: enumOf(...revocationReasons) },
      ['grantId', 'reason'],
    ),
    example: { grantId: GRANT, userId: USER, reason: 'admin' },
  }),
  event({
    type: 'identity.api_key.issued',
    version: 1,
    producers: ['ca-service/src/api-keys/api-keys.ts'],
    consumers: ['ca-service/src/api-keys/api-keys-projection.ts'],
    aggregate: 'api_key',
    direction: 'produced',
    payload: object(
      {
        keyId: id('key'),
        prefix: { type: 'string', pattern: '^lk_[A-Za-z0-9]{8}$' },
        scopes: { type: 'array', items: shortText(64), minItems: 1, uniqueItems: true },
        secretHash: hex(32),
        expiresAt: dateTime,
        name: shortText(100),
      },
      ['keyId', 'prefix', 'scopes', 'secretHash'],
    ),
    example: {
      keyId: KEY,
      prefix: 'lk_Ab3dE6gH',
      scopes: ['admin'],
      secretHash: FINGERPRINT,
      name: 'local admin',
    },
  }),
  event({
    type: 'identity.api_key.revoked',
    version: 1,
    producers: ['ca-service/src/api-keys/api-keys.ts'],
    consumers: ['ca-service/src/api-keys/api-keys-projection.ts'],
    aggregate: 'api_key',
    direction: 'produced',
    payload: object({ keyId: id('key'), reason: shortText() }, ['keyId']),
    example: { keyId: KEY, reason: 'rotated' },
  }),
  event({
    type: 'identity.password.reset_requested',
    version: 1,
    producers: [],
    consumers: [],
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), channel: enumOf('email', 'admin') }),
    example: { userId: USER, channel: 'admin' },
  }),
  event({
    type: 'tenant.org.user_invited',
    version: 1,
    producers: ['tenant-service'],
    consumers: ['ca-service/src/inbox/inbox-processor.ts'],
    aggregate: 'user',
    direction: 'consumed',
    payload: object(
      {
        inviteId: shortText(64),
        username: shortText(64),
        email: { type: 'string', format: 'email', maxLength: 254 },
        role: enumOf(...ROLES),
        invitedBy: shortText(64),
      },
      ['inviteId', 'username', 'role'],
    ),
    example: { inviteId: 'inv_123', username: 'new.teacher', role: 'teacher' },
  }),
  event({
    type: 'gdpr.subject_request.received',
    version: 1,
    producers: ['GDPR platform'],
    consumers: [
      'ca-service/src/inbox/inbox-processor.ts',
      'ca-service/src/inbox/subject-requests.ts',
    ],
    aggregate: 'user',
    direction: 'consumed',
    payload: object({
      requestId: shortText(64),
      subjectUserId: id('usr'),
      kind: enumOf('erasure', 'export'),
    }),
    example: { requestId: 'gdpr_42', subjectUserId: USER, kind: 'erasure' },
  }),
  event({
    type: 'gdpr.subject_request.acknowledged',
    version: 1,
    producers: ['ca-service/src/inbox/subject-requests.ts'],
    consumers: ['GDPR platform'],
    aggregate: 'user',
    direction: 'produced',
    payload: object(
      {
        requestId: shortText(64),
        subjectUserId: id('usr'),
        kind: enumOf('erasure', 'export'),
        outcome: enumOf('completed', 'subject_not_found'),
        /** Export only: how many events the export holds, and the SHA-256 of its NDJSON. */
        eventCount: nonNegativeInteger,
        exportSha256: hex(32),
      },
      ['requestId', 'subjectUserId', 'kind', 'outcome'],
    ),
    example: {
      requestId: 'gdpr_43',
      subjectUserId: USER,
      kind: 'export',
      outcome: 'completed',
      eventCount: 12,
      exportSha256: FINGERPRINT,
    },
  }),
  event({
    type: 'identity.tenant.mfa_policy_set',
    version: 1,
    producers: ['ca-service/src/mfa/mfa-policy.ts'],
    consumers: ['ca-service/src/mfa/mfa-policy.ts'],
    aggregate: 'tenant',
    direction: 'produced',
    payload: object({
      tenantId: id('ten'),
      /** The whole policy after the change, one entry per role. */
      roles: object(
        Object.fromEntries(
          ROLES.map((role) => [
            role,
            object(
              {
                required: { type: 'array', items: enumOf('totp', 'webauthn'), uniqueItems: true },
                offline: {
                  type: 'array',
                  items: enumOf('password', 'totp', 'webauthn'),
                  uniqueItems: true,
                },
                stepUp: boolean,
                offlineAssurance: enumOf('software', 'hardware'),
                webauthn: object({
                  login: enumOf('passwordless', 'second_factor'),
                  userVerification: enumOf('required', 'preferred'),
                }),
              },
              ['required', 'offline', 'stepUp'],
            ),
          ]),
        ),
      ),
    }),
    example: {
      tenantId: TENANT,
      roles: {
        learner: { required: [], offline: ['password', 'totp'], stepUp: false },
        teacher: { required: ['totp'], offline: ['password', 'totp'], stepUp: false },
        admin: { required: ['totp'], offline: ['password', 'totp'], stepUp: true },
      },
    },
  }),
  event({
    type: 'identity.tenant.password_policy_set',
    version: 1,
    aggregate: 'tenant',
    direction: 'produced',
    producers: ['ca-service/src/tenants/tenant-password-policy.ts'],
    consumers: [],
    payload: object({
      tenantId: id('ten'),
      /** Characters (code points after NFC) a password needs, where it is set and to go offline. */
      minLength: { type: 'integer', minimum: 8, maximum: 128 },
      /** Refuse passwords from the built-in list of the most common ones. */
      refuseCommon: boolean,
    }),
    example: { tenantId: TENANT, minLength: 12, refuseCommon: true },
  }),
  event({
    // AuthenticationIdentityLinked of the identity domain catalogue: an external OpenID Connect
    // identity (issuer, subject) now signs in as this user, in this user's tenant only.
    type: 'identity.user.identity_linked',
    version: 1,
    aggregate: 'user',
    direction: 'produced',
    producers: ['ca-service/src/sso/sso-identities.ts'],
    consumers: ['ca-service/src/sso/sso-providers.ts'],
    payload: object({
      userId: id('usr'),
      /** The tenant's label for its provider (`google`, `microsoft`, `oidc`). */
      provider: enumOf(...SSO_PROVIDERS),
      issuer: { type: 'string', format: 'uri', maxLength: 500 },
      subject: shortText(255),
      /** `admin`: an admin named the subject; `verified_email`: the tenant's verified-domain rule. */
      linkedBy: enumOf('admin', 'verified_email'),
    }),
    example: {
      userId: USER,
      provider: 'google',
      issuer: 'https://accounts.google.com',
      subject: '110169484474386276334',
      linkedBy: 'verified_email',
    },
  }),
  event({
    type: 'identity.tenant.sso_provider_set',
    version: 1,
    aggregate: 'tenant',
    direction: 'produced',
    producers: ['ca-service/src/sso/sso-providers.ts'],
    consumers: ['ca-service/src/sso/sso-providers.ts'],
    payload: object(
      {
        tenantId: id('ten'),
        provider: enumOf(...SSO_PROVIDERS),
        issuer: { type: 'string', format: 'uri', maxLength: 500 },
        clientId: shortText(255),
        /** Email domains whose verified addresses may link to the local user of that email. */
        verifiedDomains: {
          type: 'array',
          items: shortText(253),
          uniqueItems: true,
          maxItems: 20,
        },
      },
      ['tenantId', 'provider', 'issuer', 'clientId', 'verifiedDomains'],
    ),
    example: {
      tenantId: TENANT,
      provider: 'microsoft',
      issuer: 'https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0',
      clientId: '6731de76-14a6-49ae-97bc-6eba6914391e',
      verifiedDomains: ['hillside.example'],
    },
  }),
  event({
    type: 'identity.user.mfa_removed',
    version: 1,
    producers: [
      'ca-service/src/mfa/totp-removal.ts',
      'ca-service/src/mfa/webauthn-registration.ts',
    ],
    consumers: [
      'ca-service/src/mfa/webauthn-credentials.ts',
      'ca-service/src/mfa/totp-reenrolment.ts',
    ],
    aggregate: 'user',
    direction: 'produced',
    payload: object(
      {
        userId: id('usr'),
        kind: enumOf('totp', 'webauthn'),
        reason: enumOf('user', 'admin_reset', 'device_revoked'),
        credentialId: shortText(1024),
      },
      ['userId', 'kind', 'reason'],
    ),
    example: { userId: USER, kind: 'totp', reason: 'admin_reset' },
  }),
  event({
    type: 'identity.user.webauthn_registration_canceled',
    version: 1,
    producers: ['agent/src/passkeys/passkey-registration.ts'],
    consumers: ['ca-service/src/sync/device-authority.ts'],
    aggregate: 'user',
    direction: 'produced',
    payload: object(
      {
        userId: id('usr'),
        deviceId: id('dev'),
        reason: enumOf('user_canceled', 'timeout', 'not_allowed', 'invalid_state', 'other'),
      },
      ['userId', 'reason'],
    ),
    example: { userId: USER, reason: 'user_canceled' },
  }),
  event({
    type: 'identity.organization.created',
    version: 1,
    aggregate: 'organization',
    direction: 'produced',
    producers: ['ca-service/src/members/memberships.ts'],
    consumers: ['ca-service/src/members/members-projection.ts'],
    payload: object({ organizationId: id('org'), parentId: id('ten'), name: shortText() }),
    example: { organizationId: ORG, parentId: TENANT, name: 'Hillside Primary' },
  }),
  event({
    type: 'identity.invitation.created',
    version: 1,
    aggregate: 'invitation',
    direction: 'produced',
    producers: ['ca-service/src/members/invitations.ts'],
    consumers: ['ca-service/src/members/members-projection.ts'],
    payload: object(
      {
        invitationId: id('inv'),
        organizationId,
        /** The invited email, sealed under the invitation's own key (erased with the invitee). */
        personalData: PERSONAL_DATA,
        roles: { type: 'array', items: enumOf(...MEMBER_ROLES), uniqueItems: true },
        accountRole: enumOf(...ROLES),
        /** SHA-256 of the accept token's secret: the token itself is shown once, never stored. */
        tokenHash: hex(32),
        expiresAt: dateTime,
      },
      ['invitationId', 'organizationId', 'personalData', 'roles', 'tokenHash', 'expiresAt'],
    ),
    example: {
      invitationId: INVITATION,
      organizationId: ORG,
      personalData: SEALED,
      roles: ['device_manager'],
      accountRole: 'teacher',
      tokenHash: FINGERPRINT,
      expiresAt: WHEN,
    },
  }),
  event({
    type: 'identity.invitation.accepted',
    version: 1,
    aggregate: 'invitation',
    direction: 'produced',
    producers: ['ca-service/src/members/invitations.ts'],
    consumers: ['ca-service/src/members/members-projection.ts'],
    payload: object({ invitationId: id('inv'), userId: id('usr'), membershipId: id('mem') }),
    example: { invitationId: INVITATION, userId: USER, membershipId: MEMBERSHIP },
  }),
  event({
    type: 'identity.invitation.revoked',
    version: 1,
    aggregate: 'invitation',
    direction: 'produced',
    producers: ['ca-service/src/members/invitations.ts'],
    consumers: ['ca-service/src/members/members-projection.ts'],
    payload: object({ invitationId: id('inv'), reason: shortText() }, ['invitationId']),
    example: { invitationId: INVITATION, reason: 'sent to the wrong address' },
  }),
  event({
    type: 'identity.membership.activated',
    version: 1,
    aggregate: 'membership',
    direction: 'produced',
    producers: ['ca-service/src/members/memberships.ts'],
    consumers: ['ca-service/src/members/members-projection.ts'],
    payload: object({ membershipId: id('mem'), userId: id('usr'), organizationId }),
    example: { membershipId: MEMBERSHIP, userId: USER, organizationId: ORG },
  }),
  event({
    type: 'identity.membership.suspended',
    version: 1,
    aggregate: 'membership',
    direction: 'produced',
    producers: ['ca-service/src/members/memberships.ts'],
    consumers: ['ca-service/src/members/members-projection.ts'],
    payload: object({ membershipId: id('mem'), reason: shortText() }, ['membershipId']),
    example: { membershipId: MEMBERSHIP, reason: 'moved to another school' },
  }),
  event({
    type: 'identity.role.assigned',
    version: 1,
    aggregate: 'assignment',
    direction: 'produced',
    producers: ['ca-service/src/members/memberships.ts'],
    consumers: ['ca-service/src/members/members-projection.ts'],
    payload: object({
      assignmentId: id('asg'),
      role: enumOf(...MEMBER_ROLES),
      subject: id('usr'),
      /** The organisation the role holds in: the tenant (district-wide) or one school. */
      scope: organizationId,
    }),
    example: { assignmentId: ASSIGNMENT, role: 'device_manager', subject: USER, scope: TENANT },
  }),
  event({
    type: 'identity.permission.assigned',
    version: 1,
    aggregate: 'assignment',
    direction: 'produced',
    producers: ['ca-service/src/members/memberships.ts'],
    consumers: ['ca-service/src/members/members-projection.ts'],
    payload: object({
      assignmentId: id('asg'),
      permission: enumOf(...MEMBER_PERMISSIONS),
      subject: id('usr'),
      scope: organizationId,
    }),
    example: { assignmentId: ASSIGNMENT, permission: 'events:read', subject: USER, scope: ORG },
  }),
  event({
    type: 'identity.authorization.decision_recorded',
    version: 1,
    aggregate: 'authorization_decision',
    direction: 'produced',
    producers: ['ca-service/src/members/authorization-decisions.ts'],
    consumers: [],
    payload: object(
      {
        decisionId: id('dec'),
        /** The actor asking: a user (console) or an API key. */
        subject: shortText(64),
        /** The admin route, as `METHOD /path/:param`, and the scope it needs. */
        action: shortText(200),
        scope: shortText(64),
        /** `tenant:<id>`, or `installation` for a route that names none. */
        resource: shortText(100),
        result: enumOf('allow', 'deny'),
        reason: shortText(),
      },
      ['decisionId', 'subject', 'action', 'resource', 'result'],
    ),
    example: {
      decisionId: 'dec_01J9Z3YQ8M6W4Q9V2K7T5R3N1P',
      subject: USER,
      action: 'POST /v1/admin/enrollment-tokens',
      scope: 'enrollment:write',
      resource: `tenant:${TENANT}`,
      result: 'deny',
      reason: 'no role or permission in scope grants "enrollment:write"',
    },
  }),
  event({
    // As the identity schemas define it (v1 predates them): the raw token never leaves the mail.
    type: 'identity.password.reset_requested',
    version: 2,
    aggregate: 'user',
    direction: 'produced',
    producers: ['ca-service/src/self-service/password-reset.ts'],
    consumers: [],
    payload: object(
      {
        userId: id('usr'),
        channel: enumOf('email', 'admin'),
        resetTokenHash: hex(32),
        ip: shortText(45),
        ua: { type: 'string', maxLength: 512 },
        requestedAt: dateTime,
        expiresAt: dateTime,
      },
      ['userId', 'channel', 'resetTokenHash', 'ip', 'ua', 'requestedAt', 'expiresAt'],
    ),
    example: {
      userId: USER,
      channel: 'email',
      resetTokenHash: FINGERPRINT,
      ip: '192.0.2.10',
      ua: 'Mozilla/5.0',
      requestedAt: WHEN,
      expiresAt: '2026-11-23T10:30:00.000Z',
    },
  }),
  event({
    type: 'identity.password.reset_completed',
    version: 1,
    aggregate: 'user',
    direction: 'produced',
    producers: ['ca-service/src/self-service/password-reset.ts'],
    consumers: [],
    payload: object({
      userId: id('usr'),
      resetTokenHash: hex(32),
      /** Sessions and grants the reset ended, as a password change by an admin would. */
      sessionsRevoked: nonNegativeInteger,
      completedAt: dateTime,
    }),
    example: { userId: USER, resetTokenHash: FINGERPRINT, sessionsRevoked: 2, completedAt: WHEN },
  }),
  event({
    type: 'identity.user.email_verification_requested',
    version: 1,
    aggregate: 'user',
    direction: 'produced',
    producers: ['ca-service/src/self-service/email-verification.ts'],
    consumers: [],
    payload: object({
      userId: id('usr'),
      tokenHash: hex(32),
      requestedAt: dateTime,
      expiresAt: dateTime,
    }),
    example: {
      userId: USER,
      tokenHash: FINGERPRINT,
      requestedAt: WHEN,
      expiresAt: '2026-11-24T10:00:00.000Z',
    },
  }),
  event({
    type: 'identity.webhook.subscribed',
    version: 1,
    aggregate: 'webhook',
    direction: 'produced',
    producers: ['ca-service/src/webhooks/webhook-subscriptions.ts'],
    consumers: [],
    payload: object({
      subscriptionId: id('whk'),
      url: { type: 'string', format: 'uri', maxLength: 2048 },
      eventTypes: { type: 'array', items: shortText(100), minItems: 1, uniqueItems: true },
    }),
    example: {
      subscriptionId: WEBHOOK,
      url: 'https://crm.example.org/hooks/lantern',
      eventTypes: ['identity.user.registered'],
    },
  }),
  event({
    type: 'identity.webhook.unsubscribed',
    version: 1,
    aggregate: 'webhook',
    direction: 'produced',
    producers: ['ca-service/src/webhooks/webhook-subscriptions.ts'],
    consumers: [],
    payload: object({ subscriptionId: id('whk') }),
    example: { subscriptionId: WEBHOOK },
  }),
  event({
    // The domain catalogue's MfaChallengeRequired: the sign-in's risk score reached the tenant's
    // threshold (ca-service/src/signin/sign-in-risk.ts), so a second factor was asked for.
    type: 'identity.user.mfa_challenge_required',
    version: 1,
    aggregate: 'user',
    direction: 'produced',
    producers: ['ca-service/src/mfa/login-mfa.ts'],
    consumers: [],
    payload: object(
      {
        userId: id('usr'),
        reasons: {
          type: 'array',
          items: enumOf(...riskReasons),
          minItems: 1,
          uniqueItems: true,
        },
        riskLevel: enumOf('medium', 'high'),
        riskScore: { type: 'integer', minimum: 0, maximum: 100 },
        /** challenged: a factor was asked for; denied / allowed_unverified: the user has none. */
        outcome: enumOf('challenged', 'denied', 'allowed_unverified'),
        methods: { type: 'array', items: enumOf('totp', 'webauthn'), uniqueItems: true },
        deviceId: id('dev'),
      },
      ['userId', 'reasons', 'riskLevel', 'riskScore', 'outcome', 'methods'],
    ),
    example: {
      userId: USER,
      reasons: ['new_device', 'impossible_travel'],
      riskLevel: 'high',
      riskScore: 80,
      outcome: 'challenged',
      methods: ['totp'],
    },
  }),
  event({
    type: 'identity.tenant.risk_policy_set',
    version: 1,
    aggregate: 'tenant',
    direction: 'produced',
    producers: ['ca-service/src/mfa/risk-policy.ts'],
    consumers: ['ca-service/src/mfa/risk-policy.ts'],
    payload: object({
      tenantId: id('ten'),
      /** The whole adaptive-MFA policy after the change. */
      policy: object(
        {
          enabled: boolean,
          threshold: { type: 'integer', minimum: 1, maximum: 100 },
          weights: object(
            Object.fromEntries(
              riskReasons.map((reason) => [reason, { type: 'integer', minimum: 0, maximum: 100 }]),
            ),
          ),
          noFactor: enumOf('deny', 'allow'),
          recentFailures: { type: 'integer', minimum: 1 },
          ipFailureAccounts: { type: 'integer', minimum: 2 },
          ipFailureWindowSeconds: { type: 'integer', minimum: 60 },
          maxTravelKmh: { type: 'integer', minimum: 1 },
          /** Absent: the tenant names no usual hours (only each user's own history counts). */
          activeHours: object({
            from: { type: 'integer', minimum: 0, maximum: 23 },
            to: { type: 'integer', minimum: 0, maximum: 23 },
            timeZone: shortText(64),
          }),
          locations: {
            type: 'array',
            maxItems: 256,
            items: object({
              cidr: shortText(64),
              name: shortText(100),
              lat: { type: 'number', minimum: -90, maximum: 90 },
              lon: { type: 'number', minimum: -180, maximum: 180 },
            }),
          },
        },
        [
          'enabled',
          'threshold',
          'weights',
          'noFactor',
          'recentFailures',
          'ipFailureAccounts',
          'ipFailureWindowSeconds',
          'maxTravelKmh',
          'locations',
        ],
      ),
    }),
    example: {
      tenantId: TENANT,
      policy: {
        enabled: true,
        threshold: 50,
        weights: {
          new_device: 20,
          unusual_hour: 15,
          recent_failures: 30,
          ip_failures: 40,
          impossible_travel: 60,
        },
        noFactor: 'allow',
        recentFailures: 3,
        ipFailureAccounts: 5,
        ipFailureWindowSeconds: 900,
        maxTravelKmh: 900,
        activeHours: { from: 6, to: 20, timeZone: 'Africa/Nairobi' },
        locations: [{ cidr: '203.0.113.0/24', name: 'Hillside campus', lat: -1.29, lon: 36.82 }],
      },
    },
  }),
];
