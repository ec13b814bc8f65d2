import type { CaContext } from '@lantern/ca-service';
import { dirname } from 'node:path';
import { buildApp, dataDirPaths, initDataDir, openCa, rotateIssuingCa } from '@lantern/ca-service';
import type { ManualClock } from '@lantern/shared';
import { createLogger } from '@lantern/shared';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { Writable } from 'node:stream';

const PASSPHRASE = 'fleet-passphrase-not-secret';

export interface FleetCa {
  url: string;
  clock: ManualClock;
  readonly ctx: CaContext;
  readonly app: FastifyInstance;
  rootFingerprint: string;
  /**
   * `lantern-ca ca rotate-issuing` and a restart of the service on the same port, as an admin
   * does it: devices keep their URL and move to the new issuer as they renew.
   */
  rotateIssuing(): Promise<void>;
  /** An admin API call; throws unless it answered 2xx. */
  admin<T>(method: InjectOptions['method'], url: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

/**
 * The fleet's CA: opened the way `lantern-ca serve` opens one, on the simulation's manual clock,
 * listening on real HTTP. Password hashing is cheap (Argon2id, 1 MiB, one pass) because a long
 * run signs in tens of thousands of times; the agents' own verifiers keep their floor cost.
 */
export async function startFleetCa(dir: string, clock: ManualClock): Promise<FleetCa> {
  const logger = createLogger({
    service: 'lantern-ca-fleet',
    salt: 'fleet',
    level: 'error',
    destination: new Writable({
      write(_chunk, _encoding, done) {
        done();
      },
    }),
  });
  const init = await initDataDir({
    dataDir: dir,
    clock,
    publicUrl: 'http://127.0.0.1',
    passphrase: PASSPHRASE,
    root: 'dev-in-data-dir',
    logger,
  });
  let ca: Awaited<ReturnType<typeof openCa>>;
  let app: FastifyInstance;
  const start = async (port: number): Promise<string> => {
    ca = await openCa({
      dataDir: dir,
      clock,
      passphrase: PASSPHRASE,
      logger,
      passwords: { params: { m: 1024, t: 1 } },
    });
    app = await buildApp({
      context: ca.context,
      enrollRateLimitPerMinute: 1e7,
      loginRateLimitPerMinute: 1e7,
    });
    // Node stamps the Date header from the host's clock; agents read it to correct a stale device
    // proof, so it must come from the simulated clock the CA checks proofs with.
    app.server.prependListener('request', (_request, response) => {
      response.sendDate = false;
      response.setHeader('date', new Date(clock.now()).toUTCString());
    });
    const address = await app.listen({ port, host: '127.0.0.1' });
    ca.context.publicUrl = address;
    return address;
  };
  const url = await start(0);
  const fleetCa: FleetCa = {
    url,
    clock,
    get ctx() {
      return ca.context;
    },
    get app() {
      return app;
    },
    rootFingerprint: init.rootFingerprint,
    async rotateIssuing() {
      await app.close();
      await ca.close();
      await rotateIssuingCa({
        dataDir: dir,
        clock,
        passphrase: PASSPHRASE,
        root: { dir: dirname(dataDirPaths(dir).rootKey), passphrase: PASSPHRASE },
      });
      await start(Number(new URL(url).port));
    },
    async admin<T>(method: InjectOptions['method'], path: string, body?: unknown): Promise<T> {
      const response = await app.inject({
        method,
        url: path,
        headers: { authorization: `Bearer ${init.adminApiKey}` },
        ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
      });
      if (response.statusCode >= 300) {
        throw new Error(`${method} ${path} answered ${response.statusCode}: ${response.body}`);
      }
      return response.json() as T;
    },
    async close() {
      await app.close();
      await ca.close();
    },
  };
  return fleetCa;
}
