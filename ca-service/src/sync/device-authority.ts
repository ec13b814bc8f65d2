import type { EventEnvelope } from '@lantern/shared';
import type { SqlDatabase } from '../store/sql-database.js';
import { latestGrantExpiry } from '../auth/grant-queries.js';
import { sessionOrigin, signedInOnDevice } from '../auth/session-queries.js';
import { passkeyOwner } from '../mfa/webauthn-credentials.js';

/** What the sync ingest knows about the pushing device and the round so far. */
export interface DeviceScope {
  db: SqlDatabase;
  deviceId: string;
  tenantId: string;
  /** Sessions this device reported created earlier in the same push (not yet projected). */
  sessionsThisRound: ReadonlySet<string>;
}

export interface DeviceEventRule {
  /** What a device may assert with this event: a fact about itself. */
  asserts: string;
  /** What the CA does with it, for an active device. A revoked device's events only get stored. */
  effect: string;
  /** Why the event is refused, or undefined when the device may say it. */
  check(scope: DeviceScope, event: EventEnvelope): Promise<string | undefined> | string | undefined;
}

/**
 * docs/architecture.md §2 "What a device may say": the only table of what a device may push and what the CA
 * does with it. A device is authenticated, not trusted; its events are facts about itself. The
 * projections that own CA-side counters, locks and the revocation feed skip every device report
 * (`reportedByDevice`), so no row here can lock a user, reset a failure count or revoke anything
 * beyond this device's own sessions. docs/device-events.md is this table (a test keeps it so).
 */
export const DEVICE_AUTHORITY: Readonly<Record<string, DeviceEventRule>> = {
  'identity.user.logged_in': {
    asserts: 'a user signed in offline on this device',
    effect:
      'stored as a fact; never resets the CA failure counter; quarantined when received after the device was revoked',
    check: (scope, event) => offlineHere(scope, event),
  },
  'identity.user.login_failed': {
    asserts: 'a sign-in was refused offline on this device',
    effect: 'stored as a fact; never counts towards the CA lockout',
    check: (scope, event) => offlineHere(scope, event),
  },
  'identity.user.locked': {
    asserts: 'the local lockout of this device locked a user here',
    effect: 'stored as a fact; never locks the CA account nor enters the revocation feed',
    check: (scope, event) =>
      offlineHere(scope, event) ??
      (event.payload['reason'] === 'too_many_failures'
        ? undefined
        : 'a device reports its own lockouts only (reason too_many_failures)'),
  },
  'identity.session.created': {
    asserts: 'an offline session started on this device, within a grant the CA issued here',
    effect:
      'recorded as an offline session of this device, ending no later than that grant; it never counts as a CA sign-in',
    check: async (scope, event) => offlineHere(scope, event) ?? (await withinGrant(scope, event)),
  },
  'identity.session.revoked': {
    asserts: 'a user signed out on this device',
    effect:
      "ends that session at the CA (its refresh stops working) when it is this device's; never enters the revocation feed",
    check: (scope, event) => ownSession(scope, event),
  },
  'identity.user.mfa_enrolled': {
    asserts: 'a user registered a passkey that lives on this device',
    effect:
      'recorded as a passkey of this device for that user; the user must hold a grant or a CA session here',
    check: (scope, event) => passkeyHere(scope, event),
  },
  'identity.user.webauthn_registration_canceled': {
    asserts: 'a passkey registration was abandoned on this device',
    effect: 'stored as a fact',
    check: async (scope, event) =>
      event.payload['deviceId'] === scope.deviceId
        ? await signedInHere(scope, String(event.payload['userId']))
        : 'the event names another device',
  },
  'identity.device.clock_rollback_detected': {
    asserts: "this device's clock was set back",
    effect: 'stored as a fact',
    check: (scope, event) =>
      event.payload['deviceId'] === scope.deviceId ? undefined : 'the event names another device',
  },
};

function offlineHere(scope: DeviceScope, event: EventEnvelope): string | undefined {
  if (event.payload['offline'] !== true) {
    return 'a device reports offline events only: online ones are the CA’s to record';
  }
  if (event.payload['deviceId'] !== scope.deviceId) return 'the event names another device';
  return undefined;
}

/** An offline session can only come from a grant, and cannot outlive it. */
async function withinGrant(scope: DeviceScope, event: EventEnvelope): Promise<string | undefined> {
  const until = await latestGrantExpiry(scope.db, String(event.payload['userId']), scope.deviceId);
  if (!until) return 'the user holds no grant on this device';
  const expiresAt = Date.parse(String(event.payload['expiresAt']));
  if (!(expiresAt <= Date.parse(until))) {
    return 'the session would outlive every grant of this user on this device';
  }
  return undefined;
}

async function ownSession(scope: DeviceScope, event: EventEnvelope): Promise<string | undefined> {
  if (event.payload['reason'] !== 'logout') {
    return 'a device reports sign-outs only (reason logout)';
  }
  const sessionId = String(event.payload['sessionId']);
  if (scope.sessionsThisRound.has(sessionId)) return undefined;
  const row = await sessionOrigin(scope.db, sessionId);
  if (row?.device_id !== scope.deviceId) return 'the session was not created on this device';
  const userId = event.payload['userId'];
  if (userId !== undefined && userId !== row.user_id) return 'the session is of another user';
  return undefined;
}

/**
 * The credential id must not already belong to another user or to the CA. The user must have
 * signed in here in a way the CA itself recorded: a session the device reported proves nothing.
 */
async function passkeyHere(scope: DeviceScope, event: EventEnvelope): Promise<string | undefined> {
  const p = event.payload;
  if (p['kind'] !== 'webauthn') {
    return `a device may report passkey enrolments only, not ${String(p['kind'])}`;
  }
  if (p['deviceId'] !== scope.deviceId || typeof p['credentialId'] !== 'string') {
    return 'a passkey enrolment from a device names that device and the credential id';
  }
  const owner = await passkeyOwner(scope.db, p['credentialId']);
  if (owner && (owner.userId !== p['userId'] || owner.deviceId !== scope.deviceId)) {
    return 'this credential id is already registered elsewhere';
  }
  return signedInHere(scope, String(p['userId']));
}

async function signedInHere(scope: DeviceScope, userId: string): Promise<string | undefined> {
  return (await signedInOnDevice(scope.db, userId, scope.deviceId))
    ? undefined
    : 'the user never signed in on this device';
}
