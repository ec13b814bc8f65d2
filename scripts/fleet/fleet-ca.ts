import type { CaContext } from '@lantern/ca-service';
import { buildApp, initDataDir, openCa } from '@lantern/ca-service';
import type { ManualClock } from '@lantern/shared';
import { createLogger } from '@lantern/shared';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { Writable } from 'node:stream';

const PASSPHRASE = 'fleet-passphrase-not-secret';

export interface FleetCa {
  url: string;
  clock: ManualClock;
  ctx: CaContext;
  app: FastifyInstance;
  rootFingerprint: string;
  /** An admin API call; throws unless it answered 2xx. */
  admin<T>(method: InjectOptions['method'], url: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

/**
 * The fleet's CA: opened the way `lantern-ca serve` opens one, on the simulation's manual clock,
 * listening on real HTTP. Password hashing is cheap (scrypt ln=10) because a long run signs in
 * tens of thousands of times; the agents' own verifiers keep their floor cost.
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
    logger,
  });
  const ca = await openCa({
    dataDir: dir,
    clock,
    passphrase: PASSPHRASE,
    logger,
    passwords: { params: { ln: 10 } },
  });
  const app = await buildApp({
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
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  ca.context.publicUrl = url;
  return {
    url,
    clock,
    ctx: ca.context,
    app,
    rootFingerprint: init.rootFingerprint,
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
      ca.close();
    },
  };
}
