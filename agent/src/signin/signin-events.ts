import type { WallClockObservation } from '../time/trusted-time.js';
import type { BindingFacts } from './binding-facts.js';
import type { SigninAgent } from './signin-agent.js';
import type { SigninRefusalCode } from './signin-refusals.js';

/** `reason` of `identity.user.login_failed`: the catalogue's names where ours differ. */
export type LoginFailureReason =
  | Exclude<SigninRefusalCode, 'bad_credentials' | 'not_enrolled' | 'suspended' | 'ca_refused'>
  | 'invalid_credentials'
  | 'user_revoked'
  | 'passkey_failed';

/** `method` of `identity.user.login_failed`: the credential or factor that was refused. */
export type LoginMethod = 'password' | 'pin' | 'totp' | 'passkey';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The outbox events of sign-in attempts, with the exact payloads of the event catalogue. Each
 * method appends in the caller's transaction, next to the state change it reports.
 */
export class SigninEvents {
  constructor(
    private readonly agent: SigninAgent,
    private readonly facts: BindingFacts,
  ) {}

  clockRollback(observation: WallClockObservation & { rollback: true }): void {
    this.agent.outbox.append({
      eventType: 'identity.device.clock_rollback_detected',
      payload: {
        deviceId: this.facts.deviceId,
        wallClock: iso(observation.wallClock),
        trustedTime: iso(observation.trustedNow),
        skewSeconds: observation.skewSeconds,
      },
    });
  }

  loginFailed(
    reason: LoginFailureReason,
    failureCount: number,
    userId?: string,
    method: LoginMethod = 'password',
  ): void {
    this.agent.outbox.append({
      eventType: 'identity.user.login_failed',
      payload: {
        ...(userId === undefined ? {} : { userId }),
        reason,
        offline: true,
        deviceId: this.facts.deviceId,
        method,
        failureCount,
      },
    });
  }

  locked(userId: string, lockedUntil: number): void {
    this.agent.outbox.append({
      eventType: 'identity.user.locked',
      payload: {
        userId,
        reason: 'too_many_failures',
        lockedUntil: iso(lockedUntil),
        offline: true,
        deviceId: this.facts.deviceId,
      },
    });
  }

  /** `logged_in` then `session.created`, the second caused by the first. */
  loggedIn(session: {
    userId: string;
    sessionId: string;
    grantId: string;
    amr: string[];
    expiresAtMs: number;
  }): void {
    const actor = { type: 'user' as const, id: session.userId };
    const login = this.agent.outbox.append({
      eventType: 'identity.user.logged_in',
      eventVersion: 2,
      actor,
      payload: {
        userId: session.userId,
        sessionId: session.sessionId,
        tenantId: this.facts.tenantId,
        offline: true,
        deviceId: this.facts.deviceId,
        grantId: session.grantId,
        amr: session.amr,
        at: iso(this.agent.trustedTime.trustedNow()),
      },
    });
    this.agent.outbox.append({
      eventType: 'identity.session.created',
      actor,
      correlationId: login.envelope.correlationId,
      causationId: login.envelope.eventId,
      payload: {
        sessionId: session.sessionId,
        userId: session.userId,
        offline: true,
        deviceId: this.facts.deviceId,
        expiresAt: iso(session.expiresAtMs),
      },
    });
  }
}
