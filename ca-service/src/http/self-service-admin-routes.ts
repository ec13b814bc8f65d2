import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import type { Mailer } from '../self-service/mailer.js';
import { sendResetLink } from '../self-service/password-reset.js';
import { SELF_SERVICE_PAGES } from './self-service-pages.js';
import { errorCode, linkMailer } from './self-service-routes.js';
import { idParam } from './schemas.js';

/** An admin mails a user a reset link (present only when the CA has SMTP). */
export function selfServiceAdminRoutes(ctx: CaContext, mailer: Mailer): FastifyPluginAsync {
  return async (base) => {
    const app = base.withTypeProvider<JsonSchemaToTsProvider>();
    const mailLinks = linkMailer(ctx, mailer);
    app.post(
      '/v1/admin/users/:id/password-reset-link',
      { config: { scope: 'users:write' }, schema: { params: idParam('usr') } },
      async (request, reply) => {
        const link = await sendResetLink(
          ctx,
          {
            userId: request.params.id,
            tenantId: request.admin.tenantId,
            ip: request.ip,
            ua: request.headers['user-agent'] ?? '',
          },
          request.admin.meta,
        );
        // After the reply, like the self-service mail: an SMTP outage is logged, not a 5xx.
        void mailLinks([link], SELF_SERVICE_PAGES.reset, 'Choose a new password').catch(
          (error: unknown) =>
            ctx.logger.error(
              { event: 'self_service.failed', error: errorCode(error) },
              'a password reset link could not be mailed',
            ),
        );
        return reply.status(202).send({ queued: true, expiresAt: link.expiresAt });
      },
    );
  };
}
