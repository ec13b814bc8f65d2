import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import type { ReadinessCheck } from '../observability/readiness.js';
import { storeAcceptsWrites } from '../store/write-probe.js';

export function storeWritable(ctx: CaContext): ReadinessCheck {
  return { name: 'store', check: () => storeAcceptsWrites(ctx.store.db) };
}

export function healthRoutes(checks: readonly ReadinessCheck[]): FastifyPluginAsync {
  return async (app) => {
    app.get('/health/live', async () => ({ status: 'ok' }));
    app.get('/health/ready', async (_request, reply) => {
      const results: Record<string, 'ok' | 'failing'> = {};
      for (const { name, check } of checks) {
        try {
          results[name] = (await check()) ? 'ok' : 'failing';
        } catch {
          results[name] = 'failing';
        }
      }
      const failing = Object.keys(results).filter((name) => results[name] !== 'ok');
      if (failing.length > 0) {
        return reply.status(503).send({
          status: 'unavailable',
          code: 'service_unavailable',
          message: `not ready: ${failing.join(', ')}`,
          failing,
          checks: results,
        });
      }
      return { status: 'ok', checks: results };
    });
  };
}
