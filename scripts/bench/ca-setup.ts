/**
 * A real CA for benchmarks: its own data dir, store (SQLite in the data dir, or the PostgreSQL
 * database `database` names, as `lantern-ca init --database`), keys and the system clock, opened
 * the way `lantern-ca serve` opens one (initDataDir + openCa + buildApp). Logs are formatted as
 * in production but written nowhere, so their cost counts and the terminal stays readable.
 */
import type { CaContext } from '@lantern/ca-service';
import { buildApp, initDataDir, openCa } from '@lantern/ca-service';
import {
  buildCsrPem,
  createDeviceProof,
  createLogger,
  fromPem,
  systemClock,
} from '@lantern/shared';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { KeyObject } from 'node:crypto';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

export const BENCH_PASSPHRASE = 'bench-passphrase-not-secret';
export const BENCH_PUBLIC_URL = 'http://ca.bench';

export interface BenchCa {
  dir: string;
  ctx: CaContext;
  app: FastifyInstance;
  adminKey: string;
  admin<T>(method: InjectOptions['method'], url: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

export async function openBenchCa(
  options: { loginRateLimitPerMinute?: number; database?: string } = {},
): Promise<BenchCa> {
  const dir = mkdtempSync(join(tmpdir(), 'lantern-bench-ca-'));
  const logger = createLogger({
    service: 'lantern-ca-bench',
    salt: 'bench',
    level: 'info',
    destination: new Writable({
      write(_chunk, _encoding, done) {
        done();
      },
    }),
  });
  const init = await initDataDir({
    dataDir: dir,
    clock: systemClock,
    publicUrl: BENCH_PUBLIC_URL,
    passphrase: BENCH_PASSPHRASE,
    root: 'dev-in-data-dir',
    logger,
    // Recorded in config.json, where openCa finds it.
    database: options.database,
  });
  const ca = await openCa({
    dataDir: dir,
    clock: systemClock,
    passphrase: BENCH_PASSPHRASE,
    logger,
  });
  const app = await buildApp({
    context: ca.context,
    enrollRateLimitPerMinute: 1e6,
    loginRateLimitPerMinute: options.loginRateLimitPerMinute ?? 1e6,
  });
  return {
    dir,
    ctx: ca.context,
    app,
    adminKey: init.adminApiKey,
    async admin<T>(method: InjectOptions['method'], url: string, body?: unknown): Promise<T> {
      const response = await app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${init.adminApiKey}` },
        ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
      });
      if (response.statusCode >= 300) {
        throw new Error(`${method} ${url} answered ${response.statusCode}: ${response.body}`);
      }
      return response.json() as T;
    },
    async close() {
      await app.close();
      await ca.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function createTenant(ca: BenchCa, name: string): Promise<string> {
  return (await ca.admin<{ tenantId: string }>('POST', '/v1/admin/tenants', { name })).tenantId;
}

export async function createUser(
  ca: BenchCa,
  tenant: string,
  username: string,
  password: string,
): Promise<string> {
  return (
    await ca.admin<{ userId: string }>('POST', '/v1/admin/users', {
      tenant,
      username,
      password,
      role: 'learner',
    })
  ).userId;
}

export async function createEnrollmentToken(ca: BenchCa, tenant: string): Promise<string> {
  return (
    await ca.admin<{ token: string }>('POST', '/v1/admin/enrollment-tokens', {
      tenant,
      ttlSeconds: 86_400,
    })
  ).token;
}

export interface DeviceKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function deviceKey(): DeviceKey {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

export function deviceCsr(key: DeviceKey): Promise<string> {
  return buildCsrPem({
    commonName: 'bench device',
    subjectPublicKeyInfo: key.publicKey.export({ type: 'spki', format: 'der' }),
    sign: (data) => sign('sha256', data, { key: key.privateKey, dsaEncoding: 'der' }),
  });
}

export interface EnrolledDevice {
  deviceId: string;
  tenantId: string;
  key: DeviceKey;
  /** base64 DER: binding certificate, issuing CA. */
  x5c: string[];
  rootPem: string;
  /** A DPoP-style device proof for one request (fresh jti each call). */
  proof(method: string, path: string, body: string): string;
}

export interface EnrollResponse {
  deviceId: string;
  tenantId: string;
  chain: string[];
  root: string;
}

export function enrolledDevice(key: DeviceKey, response: EnrollResponse): EnrolledDevice {
  const x5c = response.chain.map((pem) => fromPem(pem).toString('base64'));
  return {
    deviceId: response.deviceId,
    tenantId: response.tenantId,
    key,
    x5c,
    rootPem: response.root,
    proof: (method, path, body) =>
      createDeviceProof({
        method,
        url: `${BENCH_PUBLIC_URL}${path}`,
        body,
        x5c,
        nowSeconds: Math.floor(Date.now() / 1000),
        sign: (data) => sign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }),
      }),
  };
}

/** Enrolls a fresh device key through the CA's HTTP route (in-process inject). */
export async function enrollDevice(ca: BenchCa, tenant: string): Promise<EnrolledDevice> {
  const key = deviceKey();
  const response = await ca.app.inject({
    method: 'POST',
    url: '/v1/devices/enroll',
    payload: {
      enrollmentToken: await createEnrollmentToken(ca, tenant),
      csr: await deviceCsr(key),
    },
  });
  if (response.statusCode !== 201) throw new Error(`enroll failed: ${response.body}`);
  return enrolledDevice(key, response.json() as EnrollResponse);
}
