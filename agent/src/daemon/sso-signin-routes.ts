import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '@lantern/shared';
import { CaUnreachableError } from '../errors.js';
import type { OnlineSigninOutcome } from '../signin/online-signin.js';
import type { SigninAgent, SigninOptions } from '../signin/signin-agent.js';
import type { SsoHandoffShown } from '../signin/sso-signin.js';
import { signInWithSso } from '../signin/sso-signin.js';
import type { SigninOutcome } from './agent-metrics.js';
import { signinAnswer } from './signin-answer.js';

export interface SsoSigninRoutesOptions {
  agent: () => Promise<SigninAgent>;
  signin?: SigninOptions;
  /** Sign-in options for the browser wait (tests shorten the poll). */
  sso?: { waitMs?: number; pollIntervalMs?: number };
  onAttempt?: () => void;
  onVerdict?: (verdict: SigninOutcome) => void;
}

interface SsoAttempt {
  id: string;
  controller: AbortController;
  /** Set once the sign-in ended: the answer for the page, or the error it gets. */
  ended?: { answer: Record<string, unknown> } | { error: Error };
}

const text = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength }) as const;
const ATTEMPT_ID = { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' } as const;

/**
 * Single sign-on from the sign-in page (docs/sso.md): `POST /v1/signin/sso` starts the device's
 * hand-off and answers once there is a provider page to open and a code to show; the sign-in then
 * waits in the daemon for the person to finish in a browser, and the page asks
 * `GET /v1/signin/sso/:id` until it has ended. One at a time: a new start (the person went back
 * and began again) stops the one before, whose result nobody would read.
 */
export function registerSsoSignin(app: FastifyInstance, options: SsoSigninRoutesOptions): void {
  let current: SsoAttempt | undefined;
  const stop = () => {
    current?.controller.abort();
    current = undefined;
  };
  app.addHook('onClose', async () => stop());

  app.post(
    '/v1/signin/sso',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { tenant: text(100), offlinePassword: text(1024) },
        },
      },
    },
    async (request, reply) => {
      const { tenant, offlinePassword } = request.body as {
        tenant?: string;
        offlinePassword?: string;
      };
      stop();
      const attempt: SsoAttempt = {
        id: randomBytes(16).toString('base64url'),
        controller: new AbortController(),
      };
      current = attempt;
      let shown: (handoff: SsoHandoffShown) => void = () => undefined;
      const handoff = new Promise<SsoHandoffShown>((resolve) => {
        shown = resolve;
      });
      const flow = signInWithSso(
        await options.agent(),
        {
          ...(tenant === undefined ? {} : { tenant }),
          ...(offlinePassword === undefined ? {} : { offlinePassword }),
          ...options.sso,
          signal: attempt.controller.signal,
          open: (shownHandoff) => shown(shownHandoff),
        },
        options.signin,
      ).then(
        (outcome) => {
          attempt.ended = ended(outcome);
          options.onAttempt?.();
          if (outcome.kind === 'answered') options.onVerdict?.(outcome.verdict);
        },
        (error: unknown) => {
          if (!attempt.controller.signal.aborted) attempt.ended = { error: error as Error };
        },
      );
      const first = await Promise.race([handoff, flow.then(() => undefined)]);
      if (first === undefined) {
        // Ended before there was a page to open: not enrolled, the CA refused or did not answer.
        if (current === attempt) current = undefined;
        if (attempt.ended && 'error' in attempt.ended) throw attempt.ended.error;
        throw new CaUnreachableError('the sign-in ended before it started');
      }
      return reply.status(201).send({
        attemptId: attempt.id,
        authorizationUrl: first.authorizationUrl,
        deviceId: first.deviceId,
        ...(first.userCode === undefined ? {} : { userCode: first.userCode }),
      });
    },
  );

  app.get(
    '/v1/signin/sso/:id',
    {
      schema: {
        params: { type: 'object', required: ['id'], properties: { id: ATTEMPT_ID } },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const attempt = current;
      if (attempt?.id !== id) throw new NotFoundError('no sign-in with this id is waiting here');
      if (attempt.ended === undefined) return { state: 'pending' };
      current = undefined;
      if ('error' in attempt.ended) throw attempt.ended.error;
      return { state: 'signed_in', ...attempt.ended.answer };
    },
  );

  app.post(
    '/v1/signin/sso/:id/cancel',
    {
      schema: {
        params: { type: 'object', required: ['id'], properties: { id: ATTEMPT_ID } },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      if (current?.id === id) stop();
      return reply.status(204).send();
    },
  );
}

function ended(outcome: OnlineSigninOutcome): SsoAttempt['ended'] {
  return outcome.kind === 'unreachable'
    ? { error: new CaUnreachableError(outcome.detail) }
    : signinAnswer(outcome.verdict);
}
