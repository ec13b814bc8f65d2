import type { JsonSchema } from './schema-parts.js';
import {
  AUTH_METHODS,
  ROLES,
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
}

const USER = 'usr_01J9Z3YQ8M6W4Q9V2K7T5R3N1B';
const DEVICE = 'dev_01J9Z3YQ8M6W4Q9V2K7T5R3N1C';
const SESSION = 'ses_01J9Z3YQ8M6W4Q9V2K7T5R3N1D';
const GRANT = 'grt_01J9Z3YQ8M6W4Q9V2K7T5R3N1E';
const KEY = 'key_01J9Z3YQ8M6W4Q9V2K7T5R3N1F';
const TOKEN = 'tok_01J9Z3YQ8M6W4Q9V2K7T5R3N1G';
const TENANT = 'ten_01J9Z3YQ8M6W4Q9V2K7T5R3N1H';
const WHEN = '2026-11-23T10:00:00.000Z';
const THUMBPRINT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
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
];

const event = (definition: EventDefinition): EventDefinition => definition;

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
    aggregate: 'tenant',
    direction: 'produced',
    payload: object({ tenantId: id('ten'), name: shortText(), slug: shortText(63) }),
    example: { tenantId: TENANT, name: 'Hillside Primary', slug: 'hillside' },
  }),
  event({
    type: 'identity.user.registered',
    version: 1,
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
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), reason: shortText() }, ['userId']),
    example: { userId: USER, reason: 'left the school' },
  }),
  event({
    type: 'identity.user.reactivated',
    version: 1,
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr') }),
    example: { userId: USER },
  }),
  event({
    type: 'identity.user.erased',
    version: 1,
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), requestId: shortText(64) }, ['userId']),
    example: { userId: USER, requestId: 'gdpr_42' },
  }),
  event({
    type: 'identity.user.registered',
    version: 2,
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
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), role: enumOf(...ROLES), personalData: PERSONAL_DATA }, [
      'userId',
    ]),
    example: { userId: USER, personalData: SEALED },
  }),
  event({
    type: 'identity.user.email_verified',
    version: 1,
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), verifiedAt: dateTime }),
    example: { userId: USER, verifiedAt: WHEN },
  }),
  event({
    type: 'identity.user.logged_in',
    version: 1,
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
    type: 'identity.user.login_failed',
    version: 1,
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
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), reason: enumOf('admin', 'expired') }),
    example: { userId: USER, reason: 'admin' },
  }),
  event({
    type: 'identity.user.mfa_enrolled',
    version: 1,
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
    aggregate: 'session',
    direction: 'produced',
    payload: object({ sessionId: id('ses'), familyId: shortText(64), expiresAt: dateTime }),
    example: { sessionId: SESSION, familyId: 'fam_1', expiresAt: WHEN },
  }),
  event({
    type: 'identity.session.revoked',
    version: 1,
    aggregate: 'session',
    direction: 'produced',
    payload: object(
      { sessionId: id('ses'), userId: id('usr'), reason: enumOf(...revocationReasons) },
      ['sessionId', 'reason'],
    ),
    example: { sessionId: SESSION, userId: USER, reason: 'logout' },
  }),
  event({
    type: 'identity.enrollment_token.issued',
    version: 1,
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
    aggregate: 'enrollment_token',
    direction: 'produced',
    payload: object({ tokenId: id('tok') }),
    example: { tokenId: TOKEN },
  }),
  event({
    type: 'identity.enrollment_token.consumed',
    version: 1,
    aggregate: 'enrollment_token',
    direction: 'produced',
    payload: object({ tokenId: id('tok'), deviceId: id('dev') }),
    example: { tokenId: TOKEN, deviceId: DEVICE },
  }),
  event({
    type: 'identity.device.enrolled',
    version: 1,
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
    type: 'identity.device.renewed',
    version: 1,
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
    aggregate: 'api_key',
    direction: 'produced',
    payload: object({ keyId: id('key'), reason: shortText() }, ['keyId']),
    example: { keyId: KEY, reason: 'rotated' },
  }),
  event({
    type: 'identity.password.reset_requested',
    version: 1,
    aggregate: 'user',
    direction: 'produced',
    payload: object({ userId: id('usr'), channel: enumOf('email', 'admin') }),
    example: { userId: USER, channel: 'admin' },
  }),
  event({
    type: 'tenant.org.user_invited',
    version: 1,
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
    type: 'identity.user.mfa_removed',
    version: 1,
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
];
