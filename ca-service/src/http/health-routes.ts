import type { FastifyPluginAsync } from 'fastify';
import type { CaContext } from '../context/ca-context.js';
import type { ReadinessCheck } from '../observability/readiness.js';

/**
 * A real write, rolled back: takes the write lock and inserts a row, so a read-only file, a
 * closed handle or a lock held elsewhere fails the check (waiting at most 250 ms, not the
 * store's busy timeout). Never nests into a transaction in progress.
 */
export function storeWritable(ctx: CaContext): ReadinessCheck {
  return {
    name: 'store',
    check: () => {
      const { db } = ctx.store;
      if (!db.open || db.readonly) return false;
      if (db.inTransaction) return true;
      const busyTimeout = db.pragma('busy_timeout', { simple: true }) as number;
      db.pragma('busy_timeout = 250');
      try {
        db.exec('BEGIN IMMEDIATE');
        try {
          db.prepare(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (-1, 'readiness probe')",
          ).run();
        } finally {
          db.exec('ROLLBACK');
        }
        return true;
      } finally {
        db.pragma(`busy_timeout = ${busyTimeout}`);
      }
    },
  };
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
