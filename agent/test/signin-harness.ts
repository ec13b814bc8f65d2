import type { Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import type { ManualClock } from '@lantern/shared';
import { EventValidator, manualClock } from '@lantern/shared';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  T0,
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import type { OpenedAgent } from '../src/data-dir/open-agent.js';
import { openAgent } from '../src/data-dir/open-agent.js';
import { enroll } from '../src/enrollment/enroll.js';
import type { SigninAgent, SigninOptions } from '../src/signin/signin-agent.js';
import { createSigninAgent } from '../src/signin/signin-agent.js';
import type { LocalVerifier } from '../src/verify/local-verifier.js';
import { createLocalVerifier } from '../src/verify/local-verifier.js';
import type { ManualMonotonic } from '../src/time/monotonic-source.js';
import { manualMonotonic } from '../src/time/monotonic-source.js';

export { T0 };
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const PASSWORD = 'correct horse battery staple';

/** Cheapest cost the verifier accepts: the default's 0.4 s per sign-in adds up in tests. */
export const TEST_OPTIONS: SigninOptions = { kdfCost: { N: 2 ** 14, r: 8, p: 1 } };

const validator = new EventValidator();

export type LinkMode = 'up' | 'down' | 'hang' | 'error';

/**
 * A TCP pass-through between the agents and the CA that a test can cut (`down`: connections
 * reset), stall (`hang`: accepted, never answered) or break (`error`: HTTP 503). Switching
 * drops open connections, so pooled keep-alive sockets cannot bypass the new mode.
 */
export interface Link {
  url: string;
  set(mode: LinkMode): void;
  close(): Promise<void>;
}

async function startLink(target: URL): Promise<Link> {
  let mode: LinkMode = 'up';
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (mode === 'down') {
      client.destroy();
    } else if (mode === 'error') {
      client.once('data', () => {
        const body = '{"code":"service_unavailable","message":"down for the test"}';
        client.end(
          `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        );
      });
    } else if (mode === 'up') {
      const upstream = connect(Number(target.port), target.hostname);
      track(upstream);
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      client.pipe(upstream).pipe(client);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    set(next) {
      mode = next;
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface TestDevice {
  dataDir: string;
  opened: OpenedAgent;
  agent: SigninAgent;
  verifier: LocalVerifier;
  /** Outbox payloads, oldest first, optionally of one event type. */
  events(type?: string): Record<string, unknown>[];
  count(table: string): number;
}

export interface SigninWorld {
  ca: TestCa;
  link: Link;
  /** The URL agents use (the link's); also the CA's public URL, so it is the tokens' `iss`. */
  caUrl: string;
  tenantId: string;
  agentClock: ManualClock;
  /** The devices' system uptime: `advance` moves it, setting `agentClock` alone does not. */
  monotonic: ManualMonotonic;
  /** Moves the CA and the device clocks, and the devices' uptime, together. */
  advance(ms: number): void;
  user(username: string, password?: string): Promise<string>;
  /** `tpmTcti`: enrolled with the TPM key store on that TPM (hardware tier). */
  device(options?: { tpmTcti?: string; dataDir?: string; name?: string }): Promise<TestDevice>;
  close(): Promise<void>;
}

/** An in-process CA over real HTTP, behind a `Link`, and enrolled devices on manual clocks. */
export async function startSigninWorld(
  tempDir: () => string,
  options: { now?: number } = {},
): Promise<SigninWorld> {
  const ca = await startTestCa({ now: options.now ?? T0 });
  const direct = await ca.app.listen({ port: 0, host: '127.0.0.1' });
  const link = await startLink(new URL(direct));
  ca.ctx.publicUrl = link.url;
  const tenantId = await createTenant(ca, 'Hillside Primary');
  const agentClock = manualClock(options.now ?? T0);
  const monotonic = manualMonotonic(60 * 60_000);
  const devices: OpenedAgent[] = [];
  return {
    ca,
    link,
    caUrl: link.url,
    tenantId,
    agentClock,
    monotonic,
    advance(ms) {
      ca.clock.advance(ms);
      agentClock.advance(ms);
      monotonic.advance(ms);
    },
    user: (username, password = PASSWORD) => createUser(ca, tenantId, username, password),
    async device(options = {}) {
      const dataDir = options.dataDir ?? join(tempDir(), 'agent');
      await enroll({
        dataDir,
        caUrl: link.url,
        token: await createEnrollmentToken(ca, tenantId),
        rootFingerprint: ca.rootFingerprint,
        clock: agentClock,
        ...(options.tpmTcti === undefined ? {} : { keyStore: 'tpm', tpmTcti: options.tpmTcti }),
        ...(options.name === undefined ? {} : { name: options.name }),
      });
      const opened = await openAgent({ dataDir, clock: agentClock, monotonic });
      devices.push(opened);
      const { store } = opened;
      return {
        dataDir,
        opened,
        agent: createSigninAgent(opened, validator),
        verifier: createLocalVerifier(opened),
        events: (type) =>
          store.db
            .prepare<[], { json: string }>('SELECT envelope_json AS json FROM outbox ORDER BY seq')
            .all()
            .map(
              (row) =>
                JSON.parse(row.json) as { eventType: string; payload: Record<string, unknown> },
            )
            .filter((event) => type === undefined || event.eventType === type)
            .map((event) =>
              type === undefined ? { type: event.eventType, ...event.payload } : event.payload,
            ),
        count: (table) =>
          (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n,
      };
    },
    async close() {
      for (const opened of devices) opened.close();
      await link.close();
      await ca.close();
    },
  };
}
