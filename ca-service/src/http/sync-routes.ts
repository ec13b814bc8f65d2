import type { SyncRequest } from '@lantern/shared';
import { SYNC_REQUEST_SCHEMA } from '@lantern/shared';
import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import { SyncService } from '../sync/sync-service.js';
import { deviceProofSupport } from './device-proof-support.js';
import { correlationIdOf } from './principal.js';

export function syncRoutes(ctx: CaContext): FastifyPluginAsync {
  return async (app) => {
    const proofs = deviceProofSupport(app, ctx);
    const service = new SyncService(ctx);
    app.post(
      '/v1/sync',
      {
        bodyLimit: 2 * 1024 * 1024,
        schema: { body: SYNC_REQUEST_SCHEMA },
      },
      async (request) => {
        const device = await proofs.prove(request, { allowRevoked: true });
        const body = request.body as SyncRequest;
        const result = await service.sync(device, body, correlationIdOf(request));
        request.log.info(
          {
            event: 'sync.round',
            deviceId: device.deviceId,
            tenantId: device.tenantId,
            accepted: result.accepted,
            duplicates: result.duplicates,
            rejected: result.rejected.length,
          },
          'sync round',
        );
        return result;
      },
    );
  };
}
