import rateLimit from '@fastify/rate-limit';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { CaContext, CommandMeta } from '../context/ca-context.js';
import { requestEmailVerification, verifyEmail } from '../self-service/email-verification.js';
import type { Mailer } from '../self-service/mailer.js';
import type { SelfServiceLink } from '../self-service/password-reset.js';
import { completePasswordReset, requestPasswordReset } from '../self-service/password-reset.js';
import { SELF_SERVICE_CSP, SELF_SERVICE_PAGES, SELF_SERVICE_SCRIPT } from './self-service-pages.js';
import { correlationIdOf } from './principal.js';

const addressBody = {
  type: 'object',
  additionalProperties: false,
  required: ['tenant', 'email'],
  properties: {
    tenant: { type: 'string', minLength: 1, maxLength: 100 },
    email: { type: 'string', format: 'email', maxLength: 254 },
  },
} as const;
const tokenProperty = { type: 'string', minLength: 1, maxLength: 200 } as const;
const ACCEPTED = {
  accepted: true,
  message: 'If this address belongs to an account here, a message is on its way.',
};

/** `ECONNECTION`, `EAUTH`, … (nodemailer's codes) or the error's class: never its message. */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code.slice(0, 40);
  return error instanceof Error ? error.name : 'unknown';
}

/** Mails each link to its account, pointing at the page of `page`. */
export function linkMailer(ctx: CaContext, mailer: Mailer) {
  const origin = (ctx.publicUrls[0] ?? ctx.publicUrl).replace(/\/$/, '');
  return async (links: SelfServiceLink[], page: string, what: string): Promise<void> => {
    for (const link of links) {
      await mailer.send({
        to: link.to,
        subject: `Lantern: ${what}`,
        text: [
          `Hello ${link.username},`,
          '',
          `To ${what.toLowerCase()}, open this link (it works once, until ${link.expiresAt}):`,
          `${origin}${page}#token=${link.token}`,
          '',
          'If you did not ask for this, ignore this message; nothing changes.',
        ].join('\n'),
      });
    }
  };
}

export interface SelfServiceOptions {
  mailer: Mailer;
  /** Requests for mail per client address and minute. */
  requestRateLimitPerMinute?: number;
}

/**
 * Email verification and password reset by mailed, single-use links. Asking for a link answers
 * 202 with the same body before anything is looked up, whether the address is known or not, so
 * neither the answer nor its timing tells which accounts exist; the lookup, the event and the
 * mail happen after the reply. Links carry the token in the fragment, which browsers send to no
 * server and no Referer.
 */
export function selfServiceRoutes(ctx: CaContext, options: SelfServiceOptions): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    const pending = new Set<Promise<void>>();
    const later = (work: () => Promise<void>) => {
      const job = new Promise<void>((resolve) => setImmediate(resolve))
        .then(work)
        .catch((error: unknown) => {
          // The error's name only: an SMTP error may quote what it was sending.
          ctx.logger.error(
            {
              event: 'self_service.failed',
              error: errorCode(error),
            },
            'a self-service request could not be completed',
          );
        })
        .finally(() => pending.delete(job));
      pending.add(job);
    };
    app.addHook('onClose', async () => {
      await Promise.all(pending);
    });
    const mailLinks = linkMailer(ctx, options.mailer);
    // Nobody is signed in when asking for a link: the CA acts, on behalf of an unknown caller.
    const anonymous = (request: FastifyRequest): CommandMeta => ({
      actor: { type: 'system', id: 'self-service' },
      correlationId: correlationIdOf(request),
    });

    await app.register(async (scope) => {
      await scope.register(rateLimit, {
        max: options.requestRateLimitPerMinute ?? 20,
        timeWindow: 60_000,
      });
      const limited = scope.withTypeProvider<JsonSchemaToTsProvider>();
      limited.post(
        '/v1/self-service/password-reset',
        { bodyLimit: 4096, schema: { body: addressBody } },
        async (request, reply) => {
          const { tenant, email } = request.body;
          const meta = anonymous(request);
          const ip = request.ip;
          const ua = request.headers['user-agent'] ?? '';
          later(async () => {
            const links = await requestPasswordReset(ctx, { tenant, email, ip, ua }, meta);
            await mailLinks(links, SELF_SERVICE_PAGES.reset, 'Choose a new password');
          });
          return reply.status(202).send(ACCEPTED);
        },
      );
      limited.post(
        '/v1/self-service/email-verification',
        { bodyLimit: 4096, schema: { body: addressBody } },
        async (request, reply) => {
          const { tenant, email } = request.body;
          const meta = anonymous(request);
          later(async () => {
            const links = await requestEmailVerification(ctx, { tenant, email }, meta);
            await mailLinks(links, SELF_SERVICE_PAGES.verify, 'Confirm your email address');
          });
          return reply.status(202).send(ACCEPTED);
        },
      );
      limited.post(
        '/v1/self-service/password-reset/complete',
        {
          bodyLimit: 4096,
          schema: {
            body: {
              type: 'object',
              additionalProperties: false,
              required: ['token', 'password'],
              properties: {
                token: tokenProperty,
                password: { type: 'string', minLength: 1, maxLength: 1024 },
              },
            },
          },
        },
        async (request) => {
          const done = await completePasswordReset(ctx, request.body, correlationIdOf(request));
          return { reset: true, sessionsRevoked: done.sessionsRevoked };
        },
      );
      limited.post(
        '/v1/self-service/email-verification/confirm',
        {
          bodyLimit: 4096,
          schema: {
            body: {
              type: 'object',
              additionalProperties: false,
              required: ['token'],
              properties: { token: tokenProperty },
            },
          },
        },
        async (request) => {
          const done = await verifyEmail(ctx, request.body.token, correlationIdOf(request));
          return { verified: true, verifiedAt: done.verifiedAt };
        },
      );
    });

    for (const path of Object.values(SELF_SERVICE_PAGES)) {
      app.get(path, { schema: { hide: true } }, async (_request, reply) =>
        reply
          .header('content-security-policy', SELF_SERVICE_CSP)
          .header('referrer-policy', 'no-referrer')
          .type('text/html; charset=utf-8')
          .send(SELF_SERVICE_SCRIPT.page(path)),
      );
    }
    app.get(SELF_SERVICE_SCRIPT.path, { schema: { hide: true } }, async (_request, reply) =>
      reply.type('text/javascript; charset=utf-8').send(SELF_SERVICE_SCRIPT.source),
    );
  };
}
