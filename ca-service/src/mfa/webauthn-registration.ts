import type {
  PublicKeyCredentialCreationOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { generateRegistrationOptions, verifyRegistrationResponse } from '@simplewebauthn/server';
import type { AccessTokenClaims } from '../auth/tokens.js';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import {
  WebAuthnCredentialExistsError,
  WebAuthnCredentialNotFoundError,
  WebAuthnResponseInvalidError,
  WebAuthnUserVerificationRequiredError,
} from '../errors.js';
import { getTenant } from '../tenants/tenant-commands.js';
import type { UserRow } from '../users/users.js';
import { getUser } from '../users/users.js';
import { roleMfaPolicy } from './mfa-policy.js';
import { assertSecondFactorStepUp } from './step-up.js';
import { callerUser } from './totp-enrollment.js';
import {
  CEREMONY_TIMEOUT_MS,
  challengeOf,
  consumeChallenge,
  storeChallenge,
} from './webauthn-challenges.js';
import type { WebAuthnConfig } from './webauthn-config.js';
import {
  insertWebAuthnCredential,
  userWebAuthnCredentials,
  webAuthnCredential,
} from './webauthn-credentials.js';

/** ES256 only: what every platform authenticator offers, and what the agent verifies too. */
const ALGORITHMS = [-7];

/**
 * Registration options for the signed-in user. Adding a passkey to an account that already has
 * a second factor needs a step-up; the user's passkeys are excluded so one is not registered
 * twice; user verification follows the role's policy.
 */
export async function startPasskeyRegistration(
  ctx: Pick<CaContext, 'clock' | 'logger' | 'store'>,
  config: WebAuthnConfig,
  caller: AccessTokenClaims,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const user = await callerUser(ctx, caller);
  await assertSecondFactorStepUp(ctx, caller, user);
  const tenant = await getTenant(ctx.store.db, user.tenant_id);
  const policy = (await roleMfaPolicy(ctx.store.db, user.tenant_id, user.role)).webauthn;
  const options = await generateRegistrationOptions({
    rpName: config.rpName,
    rpID: config.rpId,
    userName: `${user.username}@${tenant.slug}`,
    userID: Buffer.from(user.user_id, 'utf8'),
    timeout: CEREMONY_TIMEOUT_MS,
    attestationType: 'none',
    excludeCredentials: (await userWebAuthnCredentials(ctx.store.db, user.user_id)).map((row) => ({
      id: row.credential_id,
      transports: JSON.parse(row.transports) as string[],
    })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: policy.userVerification },
    supportedAlgorithmIDs: ALGORITHMS,
  });
  await storeChallenge(ctx, options.challenge, 'register', user.tenant_id, user.user_id);
  ctx.logger.info(
    { event: 'mfa.webauthn.registration_started', tenantId: user.tenant_id, userId: user.user_id },
    'passkey registration started',
  );
  return options;
}

export interface PasskeyEnrolledView {
  userId: string;
  kind: 'webauthn';
  credentialId: string;
  enrolledAt: string;
}

/**
 * Verifies the authenticator's answer and stores the credential (public key, counter,
 * transports, flags) with `identity.user.mfa_enrolled` (kind webauthn) in one transaction. The
 * challenge is spent first, so a failed answer cannot be retried. A failed registration does not
 * count towards the lockout: it guesses no secret, and the caller already holds a session.
 */
export async function finishPasskeyRegistration(
  ctx: Pick<CaContext, 'clock' | 'logger' | 'store'>,
  config: WebAuthnConfig,
  caller: AccessTokenClaims,
  response: RegistrationResponseJSON,
  correlationId: string,
): Promise<PasskeyEnrolledView> {
  const user = await callerUser(ctx, caller);
  const challenge = challengeOf(response.response.clientDataJSON);
  const pending = await consumeChallenge(ctx, challenge, 'register');
  if (pending.user_id !== user.user_id) throw new WebAuthnResponseInvalidError();
  const policy = (await roleMfaPolicy(ctx.store.db, user.tenant_id, user.role)).webauthn;
  let verified;
  try {
    verified = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: config.origins,
      expectedRPID: config.rpId,
      requireUserVerification: false,
      supportedAlgorithmIDs: ALGORITHMS,
    });
  } catch (error) {
    ctx.logger.info(
      {
        event: 'mfa.webauthn.registration_refused',
        tenantId: user.tenant_id,
        userId: user.user_id,
        reason: error instanceof Error ? error.message : 'unknown',
      },
      'passkey registration refused',
    );
    throw new WebAuthnResponseInvalidError();
  }
  if (!verified.verified) throw new WebAuthnResponseInvalidError();
  const info = verified.registrationInfo;
  if (policy.userVerification === 'required' && !info.userVerified) {
    throw new WebAuthnUserVerificationRequiredError();
  }
  const enrolledAt = await ctx.store.transaction(async () => {
    const fresh = await callerUser(ctx, caller);
    await assertSecondFactorStepUp(ctx, caller, fresh);
    const known =
      (await webAuthnCredential(ctx.store.db, info.credential.id)) !== undefined ||
      (await ctx.store.db
        .prepare('SELECT 1 FROM user_passkeys WHERE credential_id = ?')
        .get(info.credential.id)) !== undefined;
    if (known) throw new WebAuthnCredentialExistsError();
    await insertWebAuthnCredential(ctx, {
      credentialId: info.credential.id,
      userId: fresh.user_id,
      tenantId: fresh.tenant_id,
      publicKey: info.credential.publicKey,
      counter: info.credential.counter,
      transports: info.credential.transports ?? response.response.transports ?? [],
      userVerified: info.userVerified,
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
    });
    const [event] = await ctx.store.append([
      {
        eventType: 'identity.user.mfa_enrolled',
        aggregateId: fresh.user_id,
        tenantId: fresh.tenant_id,
        actor: { type: 'user', id: fresh.user_id },
        correlationId,
        payload: { userId: fresh.user_id, kind: 'webauthn', credentialId: info.credential.id },
      },
    ]);
    return event?.occurredAt ?? isoNow(ctx.clock);
  });
  ctx.logger.info(
    { event: 'mfa.webauthn.enrolled', tenantId: user.tenant_id, userId: user.user_id },
    'passkey registered',
  );
  return { userId: user.user_id, kind: 'webauthn', credentialId: info.credential.id, enrolledAt };
}

async function removePasskey(
  ctx: Pick<CaContext, 'store'>,
  user: UserRow,
  credentialId: string,
  reason: 'user' | 'admin_reset',
  meta: CommandMeta,
): Promise<{ userId: string; kind: 'webauthn'; credentialId: string; removed: true }> {
  const owned = await ctx.store.db
    .prepare('SELECT 1 FROM user_passkeys WHERE credential_id = ? AND user_id = ?')
    .get(credentialId, user.user_id);
  if (owned === undefined) throw new WebAuthnCredentialNotFoundError();
  await ctx.store.db
    .prepare('DELETE FROM webauthn_credentials WHERE credential_id = ? AND user_id = ?')
    .run(credentialId, user.user_id);
  await ctx.store.append([
    {
      eventType: 'identity.user.mfa_removed',
      aggregateId: user.user_id,
      tenantId: user.tenant_id,
      ...meta,
      payload: { userId: user.user_id, kind: 'webauthn', reason, credentialId },
    },
  ]);
  return { userId: user.user_id, kind: 'webauthn', credentialId, removed: true };
}

/**
 * An admin removes one of a user's passkeys (lost or stolen authenticator). A passkey bound to
 * a device keeps working offline there until the user's grants on it expire: revoke the user's
 * grants (or the device) as well to stop it at once.
 */
export function adminRemovePasskey(
  ctx: Pick<CaContext, 'store'>,
  userId: string,
  tenantId: string | null,
  credentialId: string,
  meta: CommandMeta,
): Promise<{ userId: string; kind: 'webauthn'; credentialId: string; removed: true }> {
  return ctx.store.transaction(async () =>
    removePasskey(ctx, await getUser(ctx, userId, tenantId), credentialId, 'admin_reset', meta),
  );
}

/** The user removes one of their own passkeys: a step-up, as for any second factor. */
export function removeOwnPasskey(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  caller: AccessTokenClaims,
  credentialId: string,
  correlationId: string,
): Promise<{ userId: string; kind: 'webauthn'; credentialId: string; removed: true }> {
  return ctx.store.transaction(async () => {
    const user = await callerUser(ctx, caller);
    await assertSecondFactorStepUp(ctx, caller, user);
    return removePasskey(ctx, user, credentialId, 'user', {
      actor: { type: 'user', id: user.user_id },
      correlationId,
    });
  });
}
