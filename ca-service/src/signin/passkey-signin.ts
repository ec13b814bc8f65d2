import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import {
  generateAuthenticationOptions,
  verifyAuthenticationResponse,
} from '@simplewebauthn/server';
import {
  assertMaySignIn,
  assertNotLocked,
  recordLockoutFailure,
  verifyUserPassword,
} from '../auth/sign-in-checks.js';
import type { CaContext } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import {
  WebAuthnCounterRegressedError,
  WebAuthnCredentialUnknownError,
  WebAuthnPasswordRequiredError,
  WebAuthnResponseInvalidError,
  WebAuthnUserVerificationRequiredError,
} from '../errors.js';
import { findTenant } from '../tenants/tenant-commands.js';
import { findUserById, findUserByName } from '../users/users.js';
import { roleMfaPolicy } from '../mfa/mfa-policy.js';
import {
  CEREMONY_TIMEOUT_MS,
  challengeOf,
  consumeChallenge,
  storeChallenge,
} from '../mfa/webauthn-challenges.js';
import type { WebAuthnConfig } from '../mfa/webauthn-config.js';
import {
  advanceCounter,
  userWebAuthnCredentials,
  webAuthnCredential,
} from '../mfa/webauthn-credentials.js';
import type { LoginResult, SignInContext } from './issue-login.js';
import { issueLogin } from './issue-login.js';

export interface PasskeyOptionsInput {
  tenant: string;
  /** Narrows the options to this user's passkeys; without it any discoverable passkey answers. */
  username?: string;
}

/**
 * Options for a passkey sign-in. An unknown tenant or user gets options of the same shape (an
 * unknown user: no `allowCredentials`, like a discoverable sign-in), so they reveal neither; a
 * challenge for an unknown tenant is not stored, and its answer fails as an unknown challenge.
 */
export async function passkeyLoginOptions(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  config: WebAuthnConfig,
  input: PasskeyOptionsInput,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const tenant = await findTenant(ctx.store.db, input.tenant);
  const user =
    tenant && input.username !== undefined
      ? await findUserByName(ctx.store.db, tenant.tenantId, input.username)
      : undefined;
  const known = user && user.status !== 'erased' ? user : undefined;
  const options = await generateAuthenticationOptions({
    rpID: config.rpId,
    timeout: CEREMONY_TIMEOUT_MS,
    userVerification: known
      ? (await roleMfaPolicy(ctx.store.db, known.tenant_id, known.role)).webauthn.userVerification
      : 'preferred',
    ...(known
      ? {
          allowCredentials: (await userWebAuthnCredentials(ctx.store.db, known.user_id)).map(
            (row) => ({
              id: row.credential_id,
              transports: JSON.parse(row.transports) as string[],
            }),
          ),
        }
      : {}),
  });
  if (tenant)
    await storeChallenge(
      ctx,
      options.challenge,
      'authenticate',
      tenant.tenantId,
      known?.user_id ?? null,
    );
  return options;
}

export interface PasskeyLoginInput {
  response: AuthenticationResponseJSON;
  /** Needed when the role's policy makes passkeys a second factor (`webauthn.login`). */
  password?: string;
}

/**
 * docs/architecture.md §4 online sign-in with a passkey of the CA's web origin. The challenge is spent first;
 * the credential must belong to the tenant (and user) the options were for; then the same
 * lockout, password (when the policy wants it), account and device checks as a password
 * sign-in, and the same answer (`issueLogin`): tokens, session, offline grant with a device proof.
 *
 * A failed assertion, missing user verification or a counter that did not move each count
 * towards the lockout like a wrong password. `amr`: `hwk` + `user` for the passkey, `pwd` with
 * the password, and `mfa` when two factors were proven (the password, or the authenticator's
 * user verification): only then is the token good for a step-up.
 */
export async function passkeyLogin(
  ctx: SignInContext,
  config: WebAuthnConfig,
  input: PasskeyLoginInput,
  device: ProvenDevice | undefined,
  correlationId: string,
): Promise<LoginResult> {
  const challenge = challengeOf(input.response.response.clientDataJSON);
  const pending = await consumeChallenge(ctx, challenge, 'authenticate');
  const credential = await webAuthnCredential(ctx.store.db, input.response.id);
  const user = credential && (await findUserById(ctx.store.db, credential.user_id));
  if (
    !credential ||
    !user ||
    user.status === 'erased' ||
    credential.tenant_id !== pending.tenant_id ||
    (pending.user_id !== null && credential.user_id !== pending.user_id)
  ) {
    return refuseUnknownCredential(ctx, pending.tenant_id);
  }
  assertNotLocked(ctx, user, 'passkey');
  const policy = (await roleMfaPolicy(ctx.store.db, user.tenant_id, user.role)).webauthn;
  let matched: string | undefined;
  if (policy.login === 'second_factor') {
    if (input.password === undefined) throw new WebAuthnPasswordRequiredError();
    matched = await verifyUserPassword(ctx, user, input.password, correlationId);
  }
  const refuse = async (error: Error, reason: string): Promise<never> => {
    await recordLockoutFailure(ctx, user.user_id, correlationId, {
      reason: 'passkey_failed',
      method: 'passkey',
    });
    ctx.metrics.mfa('webauthn', 'failure');
    ctx.metrics.loginFailed('passkey_failed', user.tenant_id, 'passkey');
    ctx.logger.info(
      {
        event: 'login.failure.passkey_failed',
        reason,
        tenantId: user.tenant_id,
        userId: user.user_id,
      },
      'sign-in refused',
    );
    throw error;
  };

  let verified;
  try {
    verified = await verifyAuthenticationResponse({
      response: input.response,
      expectedChallenge: challenge,
      expectedOrigin: config.origins,
      expectedRPID: config.rpId,
      // The counter is checked below, after the signature: only a verified assertion may
      // report a regression, and it gets its own code.
      credential: {
        id: credential.credential_id,
        publicKey: new Uint8Array(credential.public_key),
        counter: 0,
        transports: JSON.parse(credential.transports) as string[],
      },
      requireUserVerification: false,
    });
  } catch (error) {
    return refuse(
      new WebAuthnResponseInvalidError(),
      error instanceof Error ? error.message : 'unknown',
    );
  }
  if (!verified.verified) return refuse(new WebAuthnResponseInvalidError(), 'not verified');
  const { newCounter, userVerified } = verified.authenticationInfo;
  if (policy.userVerification === 'required' && !userVerified) {
    return refuse(new WebAuthnUserVerificationRequiredError(), 'user_verification_missing');
  }
  const counter = await advanceCounter(ctx, credential.credential_id, newCounter);
  if (counter === 'unknown') return refuseUnknownCredential(ctx, pending.tenant_id);
  if (counter === 'regressed') {
    ctx.logger.warn(
      {
        event: 'login.webauthn.counter_regressed',
        tenantId: user.tenant_id,
        userId: user.user_id,
      },
      'passkey counter did not advance: possible cloned authenticator',
    );
    return refuse(new WebAuthnCounterRegressedError(), 'counter_regressed');
  }
  assertMaySignIn(ctx, user, device, 'passkey');
  const withPassword = input.password !== undefined && policy.login === 'second_factor';
  const amr = [
    ...(withPassword ? ['pwd'] : []),
    'hwk',
    'user',
    ...(withPassword || userVerified ? ['mfa'] : []),
  ];
  return issueLogin(
    ctx,
    user,
    amr,
    device,
    correlationId,
    {},
    {
      method: 'passkey',
      passkeyCredentialId: credential.credential_id,
      ...(matched === undefined ? {} : { passwordHash: matched }),
    },
  );
}

function refuseUnknownCredential(
  ctx: Pick<SignInContext, 'logger' | 'metrics'>,
  tenantId: string,
): never {
  ctx.metrics.loginFailed('unknown_account', tenantId, 'passkey');
  ctx.logger.info(
    { event: 'login.failure.webauthn_credential_unknown', tenantId },
    'sign-in refused',
  );
  throw new WebAuthnCredentialUnknownError();
}
