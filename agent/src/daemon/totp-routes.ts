import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '@lantern/shared';
import { readDeviceBinding } from '../enrollment/device-binding.js';
import { CaUnreachableError, NotEnrolledError } from '../errors.js';
import { bindingFacts } from '../signin/binding-facts.js';
import { postWithDeviceProof } from '../signin/ca-call.js';
import type { SigninOptions } from '../signin/signin-agent.js';
import { DEFAULT_SIGNIN_TIMEOUT_MS } from '../signin/signin-agent.js';
import { refusalError } from '../signin/signin-refusals.js';
import { stepUp } from '../signin/step-up.js';
import { createLocalVerifier } from '../verify/local-verifier.js';
import { TOKEN_REJECTIONS } from '../verify/token-rejections.js';
import { LanternError } from '@lantern/shared';
import { lazySigninAgent } from './lazy-signin-agent.js';

export interface TotpRoutesOptions {
  dataDir: string;
  clock: Clock;
  /** How long to wait for the CA. 3 s. */
  caTimeoutMs?: number;
  /** For the step-up that enrolment needs (KDF cost, lockout, MFA policy). */
  signin?: SigninOptions;
  /** Called after a step-up, whatever its verdict: the daemon syncs the new events soon. */
  onAttempt?: () => void;
}

/** A CA access token: three base64url segments, as the CA's own bearer parsing expects. */
const accessToken = {
  type: 'string',
  minLength: 20,
  maxLength: 8192,
  pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$',
} as const;

/**
 * `POST /v1/totp/enroll` and `/v1/totp/confirm` (docs/architecture.md §8): TOTP enrolment at the CA for the
 * person signed in on this device, forwarded with a device proof because the CA binds the access
 * tokens it gives devices to the device key. The agent keeps no CA access token (sessions hold
 * only the sealed refresh token), so the caller passes the `accessToken` its online sign-in
 * returned. The CA's answer goes back as is, 2xx and 4xx alike; the enrolment answer carries the
 * secret, so nothing may cache it.
 *
 * Enrolment also needs the password again (issue 15, `stepUp`): an access token alone, which a
 * local app may hold, must not let it add a second factor of its own to the person's account.
 */
export function totpRoutes(options: TotpRoutesOptions): FastifyPluginAsync {
  return async (app) => {
    const opener = lazySigninAgent({ dataDir: options.dataDir, clock: options.clock });
    app.addHook('onClose', () => opener.close());

    const forward = async (path: string, token: string, payload: Record<string, string>) => {
      const agent = await opener.get();
      const binding = readDeviceBinding(agent.store);
      if (binding === null) throw new NotEnrolledError();
      const facts = bindingFacts(binding);
      const url = `${facts.caUrl}${path}`;
      const body = JSON.stringify(payload);
      const call = await postWithDeviceProof(
        agent,
        facts.x5c,
        { url, body, headers: { authorization: `Bearer ${token}` } },
        options.caTimeoutMs ?? DEFAULT_SIGNIN_TIMEOUT_MS,
      );
      if (call.kind === 'unreachable') throw new CaUnreachableError(call.detail);
      // A CA failure is not the caller's doing, and its body is not ours to pass on.
      if (call.status >= 500 || typeof call.body !== 'object' || call.body === null) {
        throw new CaUnreachableError(`the CA answered HTTP ${call.status}`);
      }
      return call;
    };

    app.post(
      '/v1/totp/enroll',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['accessToken', 'password'],
            properties: {
              accessToken,
              password: { type: 'string', minLength: 1, maxLength: 1024 },
              totp: { type: 'string', pattern: '^[0-9]{6,10}$' },
            },
          },
        },
      },
      async (request, reply) => {
        const { accessToken: token, ...proof } = request.body as {
          accessToken: string;
          password: string;
          totp?: string;
        };
        const agent = await opener.get();
        const access = createLocalVerifier(agent).verifyAccessToken(token);
        if (!access.ok) {
          throw new LanternError(access.reason, 401, TOKEN_REJECTIONS[access.reason]);
        }
        const fresh = await stepUp(agent, String(access.claims.sub), proof, options.signin);
        options.onAttempt?.();
        if (!fresh.ok) {
          throw refusalError(
            fresh.code,
            fresh.lockedUntil === undefined
              ? undefined
              : { lockedUntil: new Date(fresh.lockedUntil).toISOString() },
          );
        }
        const call = await forward('/v1/mfa/totp/enroll', token, {});
        return reply.header('cache-control', 'no-store').status(call.status).send(call.body);
      },
    );

    app.post(
      '/v1/totp/confirm',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['accessToken', 'code'],
            properties: { accessToken, code: { type: 'string', pattern: '^[0-9]{6,10}$' } },
          },
        },
      },
      async (request, reply) => {
        const { accessToken: token, code } = request.body as { accessToken: string; code: string };
        const call = await forward('/v1/mfa/totp/confirm', token, { code });
        return reply.status(call.status).send(call.body);
      },
    );
  };
}
