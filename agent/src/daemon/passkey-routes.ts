import type { AddressInfo } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Clock } from '@lantern/shared';
import { EventValidator } from '@lantern/shared';
import { createPasskeyCeremony } from '../passkeys/passkey-ceremony.js';
import { PasskeyChallenges } from '../passkeys/passkey-challenges.js';
import type { PasskeyConfig } from '../passkeys/passkey-config.js';
import { DEFAULT_PASSKEY_CONFIG } from '../passkeys/passkey-config.js';
import type { RegistrationCancelReason } from '../passkeys/passkey-registration.js';
import { PasskeyRegistration } from '../passkeys/passkey-registration.js';
import { isPasskeyRefusalCode, passkeyRefusalError } from '../passkeys/passkey-refusals.js';
import type { SigninOutcome } from './agent-metrics.js';
import { PasskeySignin } from '../passkeys/passkey-signin.js';
import type { SigninAgent, SigninOptions } from '../signin/signin-agent.js';
import type { SigninRefusalCode } from '../signin/signin-refusals.js';
import { refusalError } from '../signin/signin-refusals.js';
import { createLocalVerifier } from '../verify/local-verifier.js';
import { lazySigninAgent } from './lazy-signin-agent.js';
import { signedInAnswer } from './signin-answer.js';

export interface PasskeyRoutesOptions {
  dataDir: string;
  clock: Clock;
  /** `origins` defaults to `http://localhost:<the port this daemon listens on>`. */
  passkeys?: Partial<PasskeyConfig>;
  signin?: SigninOptions;
  /** Called after each ceremony that recorded events: the daemon syncs them soon. */
  onAttempt?: () => void;
  /** Each passkey sign-in's verdict, for the daemon's metrics. */
  onVerdict?: (verdict: SigninOutcome) => void;
}

const base64url = (maxLength: number) =>
  ({ type: 'string', minLength: 1, maxLength, pattern: '^[A-Za-z0-9_-]+$' }) as const;
const object = (properties: Record<string, unknown>, required: string[]) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});
const credentialCommon = {
  id: base64url(1364),
  rawId: base64url(1364),
  type: { const: 'public-key' },
  authenticatorAttachment: { enum: ['platform', 'cross-platform'] },
  clientExtensionResults: { type: 'object', maxProperties: 16 },
};
/** `RegistrationResponseJSON` (WebAuthn Level 3). */
const registrationResponse = object(
  {
    ...credentialCommon,
    response: object(
      {
        clientDataJSON: base64url(8192),
        attestationObject: base64url(32768),
        authenticatorData: base64url(16384),
        transports: { type: 'array', maxItems: 8, items: { type: 'string', maxLength: 32 } },
        publicKeyAlgorithm: { type: 'integer' },
        publicKey: base64url(8192),
      },
      ['clientDataJSON', 'attestationObject'],
    ),
  },
  ['id', 'rawId', 'type', 'response', 'clientExtensionResults'],
);
/** `AuthenticationResponseJSON`. */
const authenticationResponse = object(
  {
    ...credentialCommon,
    response: object(
      {
        clientDataJSON: base64url(8192),
        authenticatorData: base64url(16384),
        signature: base64url(1024),
        userHandle: base64url(128),
      },
      ['clientDataJSON', 'authenticatorData', 'signature'],
    ),
  },
  ['id', 'rawId', 'type', 'response', 'clientExtensionResults'],
);
const CANCEL_REASONS: readonly RegistrationCancelReason[] = [
  'user_canceled',
  'timeout',
  'not_allowed',
  'invalid_state',
  'other',
];

/** A passkey refusal, or a refusal of the sign-in a ceremony ran (with its lock time). */
function refusalOf(verdict: { code: string; lockedUntil?: number }) {
  if (isPasskeyRefusalCode(verdict.code)) return passkeyRefusalError(verdict.code);
  return refusalError(
    verdict.code as SigninRefusalCode,
    verdict.lockedUntil === undefined
      ? undefined
      : { lockedUntil: new Date(verdict.lockedUntil).toISOString() },
  );
}

/**
 * `POST /v1/passkeys/register/options|verify|cancel` and `/v1/passkeys/authenticate/options|verify`
 * (docs/architecture.md §8), a feature of `buildAgentApp`: behind the local secret or the page's cookie. They
 * take and return the standard WebAuthn JSON. Challenges live in this process only.
 */
export function passkeyRoutes(options: PasskeyRoutesOptions): FastifyPluginAsync {
  return async (app) => {
    const validator = new EventValidator();
    const challenges = new PasskeyChallenges({
      clock: options.clock,
      ttlMs: options.passkeys?.challengeTtlMs ?? DEFAULT_PASSKEY_CONFIG.challengeTtlMs,
    });
    const config = (): PasskeyConfig => {
      const port = (app.server.address() as AddressInfo | null)?.port;
      return {
        ...DEFAULT_PASSKEY_CONFIG,
        origins: port === undefined ? [] : [`http://localhost:${port}`],
        ...options.passkeys,
      };
    };
    const lazy = lazySigninAgent({ dataDir: options.dataDir, clock: options.clock, validator });
    let built:
      { agent: SigninAgent; registration: PasskeyRegistration; signin: PasskeySignin } | undefined;
    const ceremonies = async () => {
      const agent = await lazy.get();
      if (built?.agent !== agent) {
        const ceremony = createPasskeyCeremony({
          agent,
          config: config(),
          challenges,
          verifier: createLocalVerifier(agent),
        });
        built = {
          agent,
          registration: new PasskeyRegistration(ceremony),
          signin: new PasskeySignin(ceremony),
        };
      }
      return built;
    };
    app.addHook('onClose', () => lazy.close());

    app.post(
      '/v1/passkeys/register/options',
      {
        schema: {
          body: object(
            {
              sessionToken: { type: 'string', minLength: 1, maxLength: 16384 },
              password: { type: 'string', minLength: 1, maxLength: 1024 },
              totp: { type: 'string', pattern: '^[0-9]{6,10}$' },
            },
            ['sessionToken', 'password'],
          ),
        },
      },
      async (request) => {
        const { sessionToken, ...proof } = request.body as {
          sessionToken: string;
          password: string;
          totp?: string;
        };
        const verdict = await (
          await ceremonies()
        ).registration.options(sessionToken, proof, options.signin);
        options.onAttempt?.();
        if (!verdict.ok) throw refusalOf(verdict);
        return verdict.options;
      },
    );

    app.post(
      '/v1/passkeys/register/verify',
      { schema: { body: registrationResponse } },
      async (request) => {
        const verdict = await (
          await ceremonies()
        ).registration.verify(request.body as RegistrationResponseJSON);
        options.onAttempt?.();
        if (!verdict.ok) throw passkeyRefusalError(verdict.code);
        return { ok: true, credentialId: verdict.credentialId, userId: verdict.userId };
      },
    );

    app.post(
      '/v1/passkeys/register/cancel',
      {
        schema: {
          body: object({ challenge: base64url(128), reason: { enum: [...CANCEL_REASONS] } }, [
            'challenge',
            'reason',
          ]),
        },
      },
      async (request) => {
        const { challenge, reason } = request.body as {
          challenge: string;
          reason: RegistrationCancelReason;
        };
        const verdict = (await ceremonies()).registration.cancel(challenge, reason);
        if (!verdict.ok) throw passkeyRefusalError(verdict.code);
        options.onAttempt?.();
        return { ok: true };
      },
    );

    app.post(
      '/v1/passkeys/authenticate/options',
      {
        schema: { body: object({ username: { type: 'string', minLength: 1, maxLength: 64 } }, []) },
      },
      async (request) => {
        const { username } = request.body as { username?: string };
        const verdict = await (await ceremonies()).signin.options(username);
        if (!verdict.ok) throw passkeyRefusalError(verdict.code);
        return verdict.options;
      },
    );

    app.post(
      '/v1/passkeys/authenticate/verify',
      { schema: { body: authenticationResponse } },
      async (request) => {
        const verdict = await (
          await ceremonies()
        ).signin.signIn(request.body as AuthenticationResponseJSON, options.signin);
        options.onAttempt?.();
        options.onVerdict?.(verdict);
        if (!verdict.ok) throw refusalOf(verdict);
        return signedInAnswer(verdict);
      },
    );
  };
}
