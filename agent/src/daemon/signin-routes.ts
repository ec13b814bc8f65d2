import type { FastifyPluginAsync } from 'fastify';
import type { Clock } from '@lantern/shared';
import { EventValidator, NotFoundError } from '@lantern/shared';
import { agentPaths } from '../data-dir/agent-paths.js';
import { signIn } from '../signin/sign-in.js';
import { signOut } from '../signin/sign-out.js';
import type { SigninInput, SigninOptions } from '../signin/signin-agent.js';
import { openAgentStore } from '../store/agent-store.js';
import { TrustedTime } from '../time/trusted-time.js';
import { createLocalVerifier } from '../verify/local-verifier.js';
import { ensureStateSeal } from '../keys/key-store.js';
import { TOKEN_REJECTIONS } from '../verify/token-rejections.js';
import type { SigninOutcome } from './agent-metrics.js';
import { lazySigninAgent } from './lazy-signin-agent.js';
import { signinAnswer } from './signin-answer.js';
import type { SsoSigninRoutesOptions } from './sso-signin-routes.js';
import { registerSsoSignin } from './sso-signin-routes.js';

export interface SigninRoutesOptions {
  dataDir: string;
  clock: Clock;
  signin?: SigninOptions;
  /** Called after every attempt, whatever its verdict: the daemon syncs the new events soon. */
  onAttempt?: () => void;
  /** Each sign-in's verdict, for the daemon's metrics. */
  onVerdict?: (verdict: SigninOutcome) => void;
  /** Each single sign-on's verdict (`POST /v1/signin/sso`), for the daemon's metrics. */
  onSsoVerdict?: (verdict: SigninOutcome) => void;
  /** How long a single sign-on waits for the browser, and how often it asks the CA. */
  sso?: SsoSigninRoutesOptions['sso'];
}

const text = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength }) as const;
const body = (properties: Record<string, unknown>, required: string[]) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});

/**
 * `POST /v1/signin`, `/v1/signin/sso`, `/v1/signout` and `/v1/verify` (docs/architecture.md §8), a feature of `buildAgentApp`,
 * so behind the local API secret. The daemon may start before enrollment: the keys are opened on
 * first use, and until then sign-in answers `not_enrolled`. Verification needs no key, only the
 * store, so it keeps answering on a revoked device whose keys were shredded.
 */
export function signinRoutes(options: SigninRoutesOptions): FastifyPluginAsync {
  return async (app) => {
    const validator = new EventValidator();
    const paths = agentPaths(options.dataDir);
    const store = openAgentStore(paths.database, { clock: options.clock });
    const verifier = createLocalVerifier({ store, trustedTime: new TrustedTime(store) });
    const opener = lazySigninAgent({ dataDir: options.dataDir, clock: options.clock, validator });
    const agent = () => opener.get();
    app.addHook('onClose', async () => {
      await opener.close();
      store.close();
    });

    app.post(
      '/v1/signin',
      {
        schema: {
          body: body(
            {
              username: text(64),
              password: text(1024),
              tenant: text(100),
              totp: { type: 'string', pattern: '^[0-9]{6,10}$' },
            },
            ['username', 'password'],
          ),
        },
      },
      async (request) => {
        const input = request.body as SigninInput;
        const verdict = await signIn(await agent(), input, options.signin);
        options.onAttempt?.();
        options.onVerdict?.(verdict);
        const answer = signinAnswer(verdict);
        if ('error' in answer) throw answer.error;
        return answer.answer;
      },
    );

    registerSsoSignin(app, {
      agent,
      ...(options.signin === undefined ? {} : { signin: options.signin }),
      ...(options.sso === undefined ? {} : { sso: options.sso }),
      ...(options.onAttempt === undefined ? {} : { onAttempt: options.onAttempt }),
      ...(options.onSsoVerdict === undefined ? {} : { onVerdict: options.onSsoVerdict }),
    });

    app.post(
      '/v1/signout',
      { schema: { body: body({ sessionId: text(64) }, ['sessionId']) } },
      async (request) => {
        const { sessionId } = request.body as { sessionId: string };
        const verdict = await signOut(await agent(), sessionId, {
          ...(options.signin?.caTimeoutMs === undefined
            ? {}
            : { caTimeoutMs: options.signin.caTimeoutMs }),
        });
        if (!verdict.ok) throw new NotFoundError(`no session ${sessionId} on this device`);
        return {
          sessionId,
          endedAt: new Date(verdict.endedAt).toISOString(),
          alreadyEnded: verdict.alreadyEnded,
        };
      },
    );

    // A verdict, not an error: "this token is not valid" is the answer asked for.
    app.post(
      '/v1/verify',
      { schema: { body: body({ token: text(16 * 1024) }, ['token']) } },
      async (request) => {
        // Verifying raises the trusted-time mark: on a TPM device that write must be resealed.
        await ensureStateSeal(paths, store);
        const verdict = verifier.verify((request.body as { token: string }).token);
        return verdict.ok
          ? { ok: true, kind: verdict.kind, claims: verdict.claims }
          : { ok: false, reason: verdict.reason, message: TOKEN_REJECTIONS[verdict.reason] };
      },
    );
  };
}
