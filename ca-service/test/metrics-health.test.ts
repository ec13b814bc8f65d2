import Database from 'better-sqlite3';
import type { SqliteDatabase } from '../src/store/sqlite-database.js';
import { buildApp, dataDirPaths } from '@lantern/ca-service';
import type { CaContext } from '@lantern/ca-service';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { startTestCa } from '../../test/support/ca-fixture.js';
import { TEST_STORE } from '../../test/support/postgres.js';
import { natsConnected } from '../src/observability/readiness.js';

let ca: TestCa;
beforeEach(async () => {
  ca = await startTestCa();
});
afterEach(async () => ca.close());

describe('GET /health/ready', () => {
  it('checks the store with a real write, the signer with a probe signature', async () => {
    const response = await ca.app.inject({ method: 'GET', url: '/health/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok', checks: { store: 'ok', signer: 'ok' } });
    // The probe row was rolled back.
    expect(
      await ca.ctx.store.db
        .prepare('SELECT COUNT(*) AS n FROM schema_migrations WHERE version < 0')
        .get(),
    ).toEqual({ n: 0 });
  });

  // SQLite's file lock; on PostgreSQL the probe waits for the writers' turn (store-contract test).
  it.skipIf(TEST_STORE === 'postgres')(
    'is not ready while another writer holds the store',
    async () => {
      const other = new Database(dataDirPaths(ca.dir).database);
      try {
        other.exec('BEGIN IMMEDIATE');
        const started = Date.now();
        const response = await ca.app.inject({ method: 'GET', url: '/health/ready' });
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(response.statusCode).toBe(503);
        expect(response.json()).toMatchObject({
          code: 'service_unavailable',
          failing: ['store'],
          checks: { store: 'failing', signer: 'ok' },
        });
        other.exec('ROLLBACK');
        expect((await ca.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
        // The store's own busy timeout is back to what it was.
        expect(
          (ca.ctx.store.db as SqliteDatabase).raw.pragma('busy_timeout', { simple: true }),
        ).toBe(5000);
      } finally {
        other.close();
      }
    },
  );

  it('is not ready when the issuing key cannot sign', async () => {
    const { authority } = ca.ctx.ca;
    const context: CaContext = {
      ...ca.ctx,
      ca: {
        ...ca.ctx.ca,
        authority: {
          ...authority,
          signer: {
            publicKey: authority.signer.publicKey,
            sign: async () => {
              throw new Error('HSM unreachable');
            },
          },
        },
      },
    };
    const app = await buildApp({ context });
    try {
      const response = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({
        code: 'service_unavailable',
        failing: ['signer'],
      });
    } finally {
      await app.close();
    }
  });

  it('checks NATS only when the backbone registers it, and feeds the relay gauges', async () => {
    let connected = true;
    const app = await buildApp({
      context: ca.ctx,
      readinessChecks: [natsConnected(() => connected)],
      relayStatus: () => ({ depth: 5, lagSeconds: 400, dlq: 1 }),
    });
    try {
      expect((await app.inject({ method: 'GET', url: '/health/ready' })).json()).toEqual({
        status: 'ok',
        checks: { store: 'ok', signer: 'ok', nats: 'ok' },
      });
      connected = false;
      const down = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toMatchObject({ code: 'service_unavailable', failing: ['nats'] });
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toContain('\nidentity_outbox_depth 5\n');
      expect(metrics).toContain('\nidentity_outbox_lag_seconds 400\n');
      expect(metrics).toContain('\nidentity_dlq_depth{stream="outbox"} 1\n');
    } finally {
      await app.close();
    }
  });
});
