import 'reflect-metadata';
import type { ManualClock } from '@lantern/shared';
import { createLogger, manualClock } from '@lantern/shared';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { BuildAppOptions, CaContext, Pkcs11Config } from '@lantern/ca-service';
import { buildApp, initDataDir, openCa } from '@lantern/ca-service';
import { TEST_STORE, createPostgresSchema } from './postgres.js';

export const TEST_PASSPHRASE = 'test-passphrase-not-secret';
/** The offline root's own passphrase: never the online CA's. */
export const TEST_ROOT_PASSPHRASE = 'test-root-passphrase-not-secret';
export const T0 = Date.UTC(2026, 10, 23, 10, 0, 0);

export interface TestCa {
  dir: string;
  /** The offline root (its key never enters \`dir\`). */
  root: { dir: string; passphrase: string };
  clock: ManualClock;
  ctx: CaContext;
  app: FastifyInstance;
  adminKey: string;
  rootFingerprint: string;
  logLines: string[];
  admin(
    method: InjectOptions['method'],
    url: string,
    body?: unknown,
    key?: string,
  ): Promise<LightMyRequestResponse>;
  eventCount(): Promise<number>;
  /**
   * A second CA instance over the same data dir and store, as a second `lantern-ca serve` on
   * the same PostgreSQL database is; closed with this CA at the latest.
   */
  twin(): Promise<{ ctx: CaContext; app: FastifyInstance; close(): Promise<void> }>;
  close(): Promise<void>;
}

/**
 * A throwaway CA per test: its own data dir, store, keys and frozen clock. The store is a SQLite
 * file, or a PostgreSQL schema of its own (dropped at `close`) with `store: 'postgres'` or when
 * the run sets LANTERN_TEST_STORE=postgres.
 */
export async function startTestCa(
  options: {
    now?: number;
    pkcs11?: Pkcs11Config;
    app?: Omit<BuildAppOptions, 'context'>;
    store?: 'sqlite' | 'postgres';
  } = {},
): Promise<TestCa> {
  const schema = (options.store ?? TEST_STORE) === 'postgres' ? await createPostgresSchema() : null;
  const dir = mkdtempSync(join(tmpdir(), 'lantern-ca-'));
  const root = {
    dir: mkdtempSync(join(tmpdir(), 'lantern-root-')),
    passphrase: TEST_ROOT_PASSPHRASE,
  };
  const clock = manualClock(options.now ?? T0);
  const logLines: string[] = [];
  const logger = createLogger({
    service: 'lantern-ca-test',
    salt: 'test',
    level: 'info',
    destination: new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  });
  const init = await initDataDir({
    dataDir: dir,
    clock,
    publicUrl: 'http://ca.test',
    passphrase: TEST_PASSPHRASE,
    root,
    logger,
    ...(options.pkcs11 === undefined ? {} : { pkcs11: options.pkcs11 }),
    ...(schema === null ? {} : { database: schema.url }),
  });
  const instance = async () => {
    const opened = await openCa({
      dataDir: dir,
      clock,
      passphrase: TEST_PASSPHRASE,
      logger,
      ...(options.pkcs11 === undefined ? {} : { pkcs11: { pin: options.pkcs11.pin } }),
    });
    const built = await buildApp({
      context: opened.context,
      enrollRateLimitPerMinute: 10_000,
      loginRateLimitPerMinute: 10_000,
      ...options.app,
    });
    return { ca: opened, app: built };
  };
  const { ca, app } = await instance();
  const twins: { close(): Promise<void> }[] = [];
  return {
    dir,
    root,
    clock,
    ctx: ca.context,
    app,
    adminKey: init.adminApiKey,
    rootFingerprint: init.rootFingerprint,
    logLines,
    admin: (method, url, body, key = init.adminApiKey) =>
      app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${key}` },
        ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
      }),
    eventCount: async (): Promise<number> =>
      (
        (await ca.context.store.db.prepare('SELECT COUNT(*) AS n FROM events').get()) as {
          n: number;
        }
      ).n,
    async twin() {
      const second = await instance();
      const twin = {
        ctx: second.ca.context,
        app: second.app,
        async close() {
          if (!second.ca.context.store.db.open) return;
          await second.app.close();
          await second.ca.close();
        },
      };
      twins.push(twin);
      return twin;
    },
    async close() {
      for (const twin of twins) await twin.close();
      await app.close();
      await ca.close();
      await schema?.drop();
      rmSync(dir, { recursive: true, force: true });
      rmSync(root.dir, { recursive: true, force: true });
    },
  };
}

export async function createTenant(ca: TestCa, name: string): Promise<string> {
  const response = await ca.admin('POST', '/v1/admin/tenants', { name });
  if (response.statusCode !== 201) throw new Error(`tenant create failed: ${response.body}`);
  return (response.json() as { tenantId: string }).tenantId;
}

export async function createEnrollmentToken(
  ca: TestCa,
  tenant: string,
  ttlSeconds = 3600,
): Promise<string> {
  const response = await ca.admin('POST', '/v1/admin/enrollment-tokens', { tenant, ttlSeconds });
  if (response.statusCode !== 201) throw new Error(`token create failed: ${response.body}`);
  return (response.json() as { token: string }).token;
}

export async function createUser(
  ca: TestCa,
  tenant: string,
  username: string,
  password: string,
  role: 'learner' | 'teacher' | 'admin' = 'learner',
): Promise<string> {
  const response = await ca.admin('POST', '/v1/admin/users', { tenant, username, password, role });
  if (response.statusCode !== 201) throw new Error(`user create failed: ${response.body}`);
  return (response.json() as { userId: string }).userId;
}
