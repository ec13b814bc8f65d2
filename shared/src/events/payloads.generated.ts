// Generated from EVENT_CATALOGUE by `npm run gen:event-types` (scripts/gen-event-types.ts).
// Do not edit: change the catalogue and generate again; a test fails while this file is stale.

/** `identity.tenant.created` v1. */
export type IdentityTenantCreatedV1 = { tenantId: string; name: string; slug: string };

/** `identity.user.registered` v1. */
export type IdentityUserRegisteredV1 = {
  userId: string;
  username: string;
  role: 'learner' | 'teacher' | 'admin';
  status: 'active' | 'pending_verification';
  email?: string;
  displayName?: string;
};

/** `identity.user.updated` v1. */
export type IdentityUserUpdatedV1 = {
  userId: string;
  role?: 'learner' | 'teacher' | 'admin';
  email?: string;
  displayName?: string;
};

/** `identity.user.password_set` v1. */
export type IdentityUserPasswordSetV1 = {
  userId: string;
  kind: 'password' | 'pin';
  reason: 'registration' | 'admin_reset' | 'user_change' | 'rehash';
};

/** `identity.user.suspended` v1. */
export type IdentityUserSuspendedV1 = { userId: string; reason?: string };

/** `identity.user.reactivated` v1. */
export type IdentityUserReactivatedV1 = { userId: string };

/** `identity.user.erased` v1. */
export type IdentityUserErasedV1 = { userId: string; requestId?: string };

/** `identity.user.registered` v2. */
export type IdentityUserRegisteredV2 = {
  userId: string;
  role: 'learner' | 'teacher' | 'admin';
  status: 'active' | 'pending_verification';
  personalData: string;
};

/** `identity.user.updated` v2. */
export type IdentityUserUpdatedV2 = {
  userId: string;
  role?: 'learner' | 'teacher' | 'admin';
  personalData?: string;
};

/** `identity.user.registered` v3. */
export type IdentityUserRegisteredV3 = {
  userId: string;
  role: 'learner' | 'teacher' | 'admin';
  status: 'active' | 'pending_verification';
  personalData: string;
  emailVerified: boolean;
  homeTenantId: string;
  registrationSource: 'admin' | 'self' | 'sso_jit' | 'invite' | 'bulk_import';
  createdAt: string;
};

/** `identity.user.email_verified` v1. */
export type IdentityUserEmailVerifiedV1 = { userId: string; verifiedAt: string };

/** `identity.user.logged_in` v1. */
export type IdentityUserLoggedInV1 = {
  userId: string;
  sessionId: string;
  offline: boolean;
  deviceId?: string;
  grantId?: string;
  amr: ('pwd' | 'pin' | 'otp' | 'hwk' | 'swk' | 'user' | 'mfa' | 'sso')[];
};

/** `identity.user.logged_in` v2. */
export type IdentityUserLoggedInV2 = {
  userId: string;
  sessionId: string;
  tenantId: string;
  offline: boolean;
  deviceId?: string;
  grantId?: string;
  amr: (
    | 'pwd'
    | 'pin'
    | 'otp'
    | 'hwk'
    | 'swk'
    | 'user'
    | 'mfa'
    | 'sso'
    | 'totp'
    | 'webauthn'
    | 'sms'
    | 'recovery_codes'
    | 'sso'
    | 'magic_link'
  )[];
  at: string;
  riskScore?: number;
};

/** `identity.user.login_failed` v1. */
export type IdentityUserLoginFailedV1 = {
  userId?: string;
  reason:
    | 'invalid_credentials'
    | 'unknown_user'
    | 'locked'
    | 'suspended'
    | 'mfa_required'
    | 'mfa_failed'
    | 'device_revoked'
    | 'binding_expired'
    | 'binding_not_yet_valid'
    | 'clock_rollback'
    | 'no_grant'
    | 'grant_expired'
    | 'grant_revoked'
    | 'user_revoked'
    | 'offline_window_exceeded'
    | 'method_not_allowed'
    | 'passkey_failed';
  offline: boolean;
  deviceId?: string;
  method?: 'password' | 'pin' | 'totp' | 'passkey';
  failureCount?: number;
};

/** `identity.user.offline_signin_quarantined` v1. */
export type IdentityUserOfflineSigninQuarantinedV1 = {
  userId: string;
  deviceId: string;
  signinEventId: string;
  signedInAt: string;
  deviceRevokedAt: string;
};

/** `identity.user.locked` v1. */
export type IdentityUserLockedV1 = {
  userId: string;
  reason: 'too_many_failures' | 'admin';
  lockedUntil?: string;
  offline?: boolean;
  deviceId?: string;
};

/** `identity.user.unlocked` v1. */
export type IdentityUserUnlockedV1 = { userId: string; reason: 'admin' | 'expired' };

/** `identity.user.mfa_enrolled` v1. */
export type IdentityUserMfaEnrolledV1 = {
  userId: string;
  kind: 'totp' | 'webauthn';
  credentialId?: string;
  deviceId?: string;
};

/** `identity.session.created` v1. */
export type IdentitySessionCreatedV1 = {
  sessionId: string;
  userId: string;
  offline: boolean;
  deviceId?: string;
  expiresAt: string;
  familyId?: string;
};

/** `identity.session.refreshed` v1. */
export type IdentitySessionRefreshedV1 = { sessionId: string; familyId: string; expiresAt: string };

/** `identity.session.revoked` v1. */
export type IdentitySessionRevokedV1 = {
  sessionId: string;
  userId?: string;
  reason:
    | 'lost'
    | 'stolen'
    | 'compromised'
    | 'decommissioned'
    | 'superseded'
    | 'admin'
    | 'logout'
    | 'rotation_reuse'
    | 'user_revoked'
    | 'user_locked'
    | 'user_deleted'
    | 'device_revoked'
    | 'grant_revoked'
    | 'expired'
    | 'password_reset';
};

/** `identity.session.revoked` v2. */
export type IdentitySessionRevokedV2 = {
  sessionId: string;
  userId: string;
  tenantId: string;
  deviceId?: string;
  reason:
    | 'lost'
    | 'stolen'
    | 'compromised'
    | 'decommissioned'
    | 'superseded'
    | 'admin'
    | 'logout'
    | 'rotation_reuse'
    | 'user_revoked'
    | 'user_locked'
    | 'user_deleted'
    | 'device_revoked'
    | 'grant_revoked'
    | 'expired'
    | 'password_reset'
    | 'admin_wipe'
    | 'password_reset'
    | 'security_incident'
    | 'mfa_changed'
    | 'gdpr_erasure';
  at: string;
};

/** `identity.enrollment_token.issued` v1. */
export type IdentityEnrollmentTokenIssuedV1 = {
  tokenId: string;
  expiresAt: string;
  deviceName?: string;
  tokenHash: string;
};

/** `identity.enrollment_token.revoked` v1. */
export type IdentityEnrollmentTokenRevokedV1 = { tokenId: string };

/** `identity.enrollment_token.consumed` v1. */
export type IdentityEnrollmentTokenConsumedV1 = { tokenId: string; deviceId: string };

/** `identity.device.enrolled` v1. */
export type IdentityDeviceEnrolledV1 = {
  deviceId: string;
  enrollmentTokenId: string;
  name?: string;
  keyAlgorithm: 'ES256' | 'EdDSA';
  keyThumbprint: string;
  assurance: 'software' | 'hardware' | 'attested';
};

/** `identity.device.bound_for_offline` v1. */
export type IdentityDeviceBoundForOfflineV1 = {
  deviceId: string;
  certificateSerial: string;
  certificateFingerprint: string;
  issuerFingerprint: string;
  certificateKid: string;
  certIssuedAt: string;
  certExpiresAt: string;
  maxOfflineSeconds: number;
  certificatePem: string;
};

/** `identity.device.bound_for_offline` v2. */
export type IdentityDeviceBoundForOfflineV2 = {
  deviceId: string;
  tenantId: string;
  publicKeyFingerprint: string;
  certificateSerial: string;
  certificateFingerprint: string;
  issuerFingerprint: string;
  certIssuedAt: string;
  certExpiresAt: string;
  maxOfflineSeconds: number;
  certificatePem: string;
  at: string;
};

/** `identity.device.renewed` v1. */
export type IdentityDeviceRenewedV1 = {
  deviceId: string;
  previousSerial: string;
  certificateSerial: string;
  certificateFingerprint: string;
  certificateKid: string;
  certIssuedAt: string;
  certExpiresAt: string;
  rekeyed: boolean;
  afterExpiry: boolean;
  certificatePem: string;
};

/** `identity.device.revoked` v1. */
export type IdentityDeviceRevokedV1 = {
  deviceId: string;
  reason:
    | 'lost'
    | 'stolen'
    | 'compromised'
    | 'decommissioned'
    | 'superseded'
    | 'admin'
    | 'logout'
    | 'rotation_reuse'
    | 'user_revoked'
    | 'user_locked'
    | 'user_deleted'
    | 'device_revoked'
    | 'grant_revoked'
    | 'expired'
    | 'password_reset';
  revokedAt: string;
  certificateSerials: string[];
};

/** `identity.device.clock_rollback_detected` v1. */
export type IdentityDeviceClockRollbackDetectedV1 = {
  deviceId: string;
  wallClock: string;
  trustedTime: string;
  skewSeconds: number;
};

/** `identity.grant.issued` v1. */
export type IdentityGrantIssuedV1 = {
  grantId: string;
  userId: string;
  deviceId: string;
  methods: ('password' | 'pin' | 'totp' | 'passkey' | 'webauthn')[];
  offlineUntil: string;
  sessionId?: string;
};

/** `identity.grant.revoked` v1. */
export type IdentityGrantRevokedV1 = {
  grantId: string;
  userId?: string;
  reason:
    | 'lost'
    | 'stolen'
    | 'compromised'
    | 'decommissioned'
    | 'superseded'
    | 'admin'
    | 'logout'
    | 'rotation_reuse'
    | 'user_revoked'
    | 'user_locked'
    | 'user_deleted'
    | 'device_revoked'
    | 'grant_revoked'
    | 'expired'
    | 'password_reset';
};

/** `identity.api_key.issued` v1. */
export type IdentityApiKeyIssuedV1 = {
  keyId: string;
  prefix: string;
  scopes: string[];
  secretHash: string;
  expiresAt?: string;
  name?: string;
};

/** `identity.api_key.revoked` v1. */
export type IdentityApiKeyRevokedV1 = { keyId: string; reason?: string };

/** `identity.password.reset_requested` v1. */
export type IdentityPasswordResetRequestedV1 = { userId: string; channel: 'email' | 'admin' };

/** `tenant.org.user_invited` v1. */
export type TenantOrgUserInvitedV1 = {
  inviteId: string;
  username: string;
  email?: string;
  role: 'learner' | 'teacher' | 'admin';
  invitedBy?: string;
};

/** `gdpr.subject_request.received` v1. */
export type GdprSubjectRequestReceivedV1 = {
  requestId: string;
  subjectUserId: string;
  kind: 'erasure' | 'export';
};

/** `gdpr.subject_request.acknowledged` v1. */
export type GdprSubjectRequestAcknowledgedV1 = {
  requestId: string;
  subjectUserId: string;
  kind: 'erasure' | 'export';
  outcome: 'completed' | 'subject_not_found';
  eventCount?: number;
  exportSha256?: string;
};

/** `identity.tenant.mfa_policy_set` v1. */
export type IdentityTenantMfaPolicySetV1 = {
  tenantId: string;
  roles: {
    learner: {
      required: ('totp' | 'webauthn')[];
      offline: ('password' | 'totp' | 'webauthn')[];
      stepUp: boolean;
      offlineAssurance?: 'software' | 'hardware';
      webauthn?: {
        login: 'passwordless' | 'second_factor';
        userVerification: 'required' | 'preferred';
      };
    };
    teacher: {
      required: ('totp' | 'webauthn')[];
      offline: ('password' | 'totp' | 'webauthn')[];
      stepUp: boolean;
      offlineAssurance?: 'software' | 'hardware';
      webauthn?: {
        login: 'passwordless' | 'second_factor';
        userVerification: 'required' | 'preferred';
      };
    };
    admin: {
      required: ('totp' | 'webauthn')[];
      offline: ('password' | 'totp' | 'webauthn')[];
      stepUp: boolean;
      offlineAssurance?: 'software' | 'hardware';
      webauthn?: {
        login: 'passwordless' | 'second_factor';
        userVerification: 'required' | 'preferred';
      };
    };
  };
};

/** `identity.tenant.password_policy_set` v1. */
export type IdentityTenantPasswordPolicySetV1 = {
  tenantId: string;
  minLength: number;
  refuseCommon: boolean;
};

/** `identity.user.identity_linked` v1. */
export type IdentityUserIdentityLinkedV1 = {
  userId: string;
  provider: 'google' | 'microsoft' | 'oidc';
  issuer: string;
  subject: string;
  linkedBy: 'admin' | 'verified_email';
};

/** `identity.tenant.sso_provider_set` v1. */
export type IdentityTenantSsoProviderSetV1 = {
  tenantId: string;
  provider: 'google' | 'microsoft' | 'oidc';
  issuer: string;
  clientId: string;
  verifiedDomains: string[];
};

/** `identity.user.mfa_removed` v1. */
export type IdentityUserMfaRemovedV1 = {
  userId: string;
  kind: 'totp' | 'webauthn';
  reason: 'user' | 'admin_reset' | 'device_revoked';
  credentialId?: string;
};

/** `identity.user.webauthn_registration_canceled` v1. */
export type IdentityUserWebauthnRegistrationCanceledV1 = {
  userId: string;
  deviceId?: string;
  reason: 'user_canceled' | 'timeout' | 'not_allowed' | 'invalid_state' | 'other';
};

/** `identity.organization.created` v1. */
export type IdentityOrganizationCreatedV1 = {
  organizationId: string;
  parentId: string;
  name: string;
};

/** `identity.invitation.created` v1. */
export type IdentityInvitationCreatedV1 = {
  invitationId: string;
  organizationId: string;
  personalData: string;
  roles: ('org_admin' | 'user_manager' | 'device_manager' | 'auditor')[];
  accountRole?: 'learner' | 'teacher' | 'admin';
  tokenHash: string;
  expiresAt: string;
};

/** `identity.invitation.accepted` v1. */
export type IdentityInvitationAcceptedV1 = {
  invitationId: string;
  userId: string;
  membershipId: string;
};

/** `identity.invitation.revoked` v1. */
export type IdentityInvitationRevokedV1 = { invitationId: string; reason?: string };

/** `identity.membership.activated` v1. */
export type IdentityMembershipActivatedV1 = {
  membershipId: string;
  userId: string;
  organizationId: string;
};

/** `identity.membership.suspended` v1. */
export type IdentityMembershipSuspendedV1 = { membershipId: string; reason?: string };

/** `identity.role.assigned` v1. */
export type IdentityRoleAssignedV1 = {
  assignmentId: string;
  role: 'org_admin' | 'user_manager' | 'device_manager' | 'auditor';
  subject: string;
  scope: string;
};

/** `identity.permission.assigned` v1. */
export type IdentityPermissionAssignedV1 = {
  assignmentId: string;
  permission:
    | 'devices:read'
    | 'devices:write'
    | 'enrollment:write'
    | 'users:read'
    | 'users:write'
    | 'events:read'
    | 'members:read'
    | 'members:write';
  subject: string;
  scope: string;
};

/** `identity.authorization.decision_recorded` v1. */
export type IdentityAuthorizationDecisionRecordedV1 = {
  decisionId: string;
  subject: string;
  action: string;
  scope?: string;
  resource: string;
  result: 'allow' | 'deny';
  reason?: string;
};

/** `identity.password.reset_requested` v2. */
export type IdentityPasswordResetRequestedV2 = {
  userId: string;
  channel: 'email' | 'admin';
  resetTokenHash: string;
  ip: string;
  ua: string;
  requestedAt: string;
  expiresAt: string;
};

/** `identity.password.reset_completed` v1. */
export type IdentityPasswordResetCompletedV1 = {
  userId: string;
  resetTokenHash: string;
  sessionsRevoked: number;
  completedAt: string;
};

/** `identity.user.email_verification_requested` v1. */
export type IdentityUserEmailVerificationRequestedV1 = {
  userId: string;
  tokenHash: string;
  requestedAt: string;
  expiresAt: string;
};

/** `identity.webhook.subscribed` v1. */
export type IdentityWebhookSubscribedV1 = {
  subscriptionId: string;
  url: string;
  eventTypes: string[];
};

/** `identity.webhook.unsubscribed` v1. */
export type IdentityWebhookUnsubscribedV1 = { subscriptionId: string };

/** `identity.user.mfa_challenge_required` v1. */
export type IdentityUserMfaChallengeRequiredV1 = {
  userId: string;
  reasons: (
    'new_device' | 'unusual_hour' | 'recent_failures' | 'ip_failures' | 'impossible_travel'
  )[];
  riskLevel: 'medium' | 'high';
  riskScore: number;
  outcome: 'challenged' | 'denied' | 'allowed_unverified';
  methods: ('totp' | 'webauthn')[];
  deviceId?: string;
};

/** `identity.tenant.risk_policy_set` v1. */
export type IdentityTenantRiskPolicySetV1 = {
  tenantId: string;
  policy: {
    enabled: boolean;
    threshold: number;
    weights: {
      new_device: number;
      unusual_hour: number;
      recent_failures: number;
      ip_failures: number;
      impossible_travel: number;
    };
    noFactor: 'deny' | 'allow';
    recentFailures: number;
    ipFailureAccounts: number;
    ipFailureWindowSeconds: number;
    maxTravelKmh: number;
    activeHours?: { from: number; to: number; timeZone: string };
    locations: { cidr: string; name: string; lat: number; lon: number }[];
  };
};

/** The payload of each event type, by version. */
export interface EventPayloads {
  'identity.tenant.created': { 1: IdentityTenantCreatedV1 };
  'identity.user.registered': {
    1: IdentityUserRegisteredV1;
    2: IdentityUserRegisteredV2;
    3: IdentityUserRegisteredV3;
  };
  'identity.user.updated': { 1: IdentityUserUpdatedV1; 2: IdentityUserUpdatedV2 };
  'identity.user.password_set': { 1: IdentityUserPasswordSetV1 };
  'identity.user.suspended': { 1: IdentityUserSuspendedV1 };
  'identity.user.reactivated': { 1: IdentityUserReactivatedV1 };
  'identity.user.erased': { 1: IdentityUserErasedV1 };
  'identity.user.email_verified': { 1: IdentityUserEmailVerifiedV1 };
  'identity.user.logged_in': { 1: IdentityUserLoggedInV1; 2: IdentityUserLoggedInV2 };
  'identity.user.login_failed': { 1: IdentityUserLoginFailedV1 };
  'identity.user.offline_signin_quarantined': { 1: IdentityUserOfflineSigninQuarantinedV1 };
  'identity.user.locked': { 1: IdentityUserLockedV1 };
  'identity.user.unlocked': { 1: IdentityUserUnlockedV1 };
  'identity.user.mfa_enrolled': { 1: IdentityUserMfaEnrolledV1 };
  'identity.session.created': { 1: IdentitySessionCreatedV1 };
  'identity.session.refreshed': { 1: IdentitySessionRefreshedV1 };
  'identity.session.revoked': { 1: IdentitySessionRevokedV1; 2: IdentitySessionRevokedV2 };
  'identity.enrollment_token.issued': { 1: IdentityEnrollmentTokenIssuedV1 };
  'identity.enrollment_token.revoked': { 1: IdentityEnrollmentTokenRevokedV1 };
  'identity.enrollment_token.consumed': { 1: IdentityEnrollmentTokenConsumedV1 };
  'identity.device.enrolled': { 1: IdentityDeviceEnrolledV1 };
  'identity.device.bound_for_offline': {
    1: IdentityDeviceBoundForOfflineV1;
    2: IdentityDeviceBoundForOfflineV2;
  };
  'identity.device.renewed': { 1: IdentityDeviceRenewedV1 };
  'identity.device.revoked': { 1: IdentityDeviceRevokedV1 };
  'identity.device.clock_rollback_detected': { 1: IdentityDeviceClockRollbackDetectedV1 };
  'identity.grant.issued': { 1: IdentityGrantIssuedV1 };
  'identity.grant.revoked': { 1: IdentityGrantRevokedV1 };
  'identity.api_key.issued': { 1: IdentityApiKeyIssuedV1 };
  'identity.api_key.revoked': { 1: IdentityApiKeyRevokedV1 };
  'identity.password.reset_requested': {
    1: IdentityPasswordResetRequestedV1;
    2: IdentityPasswordResetRequestedV2;
  };
  'tenant.org.user_invited': { 1: TenantOrgUserInvitedV1 };
  'gdpr.subject_request.received': { 1: GdprSubjectRequestReceivedV1 };
  'gdpr.subject_request.acknowledged': { 1: GdprSubjectRequestAcknowledgedV1 };
  'identity.tenant.mfa_policy_set': { 1: IdentityTenantMfaPolicySetV1 };
  'identity.tenant.password_policy_set': { 1: IdentityTenantPasswordPolicySetV1 };
  'identity.user.identity_linked': { 1: IdentityUserIdentityLinkedV1 };
  'identity.tenant.sso_provider_set': { 1: IdentityTenantSsoProviderSetV1 };
  'identity.user.mfa_removed': { 1: IdentityUserMfaRemovedV1 };
  'identity.user.webauthn_registration_canceled': { 1: IdentityUserWebauthnRegistrationCanceledV1 };
  'identity.organization.created': { 1: IdentityOrganizationCreatedV1 };
  'identity.invitation.created': { 1: IdentityInvitationCreatedV1 };
  'identity.invitation.accepted': { 1: IdentityInvitationAcceptedV1 };
  'identity.invitation.revoked': { 1: IdentityInvitationRevokedV1 };
  'identity.membership.activated': { 1: IdentityMembershipActivatedV1 };
  'identity.membership.suspended': { 1: IdentityMembershipSuspendedV1 };
  'identity.role.assigned': { 1: IdentityRoleAssignedV1 };
  'identity.permission.assigned': { 1: IdentityPermissionAssignedV1 };
  'identity.authorization.decision_recorded': { 1: IdentityAuthorizationDecisionRecordedV1 };
  'identity.password.reset_completed': { 1: IdentityPasswordResetCompletedV1 };
  'identity.user.email_verification_requested': { 1: IdentityUserEmailVerificationRequestedV1 };
  'identity.webhook.subscribed': { 1: IdentityWebhookSubscribedV1 };
  'identity.webhook.unsubscribed': { 1: IdentityWebhookUnsubscribedV1 };
  'identity.user.mfa_challenge_required': { 1: IdentityUserMfaChallengeRequiredV1 };
  'identity.tenant.risk_policy_set': { 1: IdentityTenantRiskPolicySetV1 };
}
