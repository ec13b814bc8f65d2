import type { Logger } from '@lantern/shared';
import type { NatsConnection } from '@nats-io/transport-node';
import { connect } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ConnectNatsOptions {
  servers: string | string[];
  /** Shown by the server's monitoring pages. */
  name: string;
  logger: Logger;
  /** Aborting gives up connecting; `connectNats` then resolves to undefined. */
  signal: AbortSignal;
  /** Told whenever the link drops (false) or comes back (true). */
  onStatus?: (connected: boolean) => void;
}

const MAX_DELAY_MS = 5_000;

/**
 * Connects, retrying with backoff until the broker answers (the service must start whether or not
 * NATS is up), then lets the client reconnect for ever. A killed peer on the same host is noticed
 * at once; pings catch a silent network path within about 30 seconds. The server URLs may hold
 * credentials and are never logged.
 */
export async function connectNats(
  options: ConnectNatsOptions,
): Promise<NatsConnection | undefined> {
  let delay = 250;
  let failures = 0;
  while (!options.signal.aborted) {
    try {
      const nc = await connect({
        servers: options.servers,
        name: options.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        reconnectJitter: 250,
        pingInterval: 10_000,
        maxPingOut: 3,
        // Otherwise every publish captures a stack for a possible error (~12 % of the relay's CPU).
        noAsyncTraces: true,
      });
      void watch(nc, options);
      if (failures > 0)
        options.logger.info({ event: 'nats.connected', client: options.name }, 'NATS reachable');
      return nc;
    } catch (error) {
      failures += 1;
      const log = { event: 'nats.unreachable', client: options.name, failures, err: error };
      if (failures === 1) options.logger.warn(log, 'NATS unreachable; retrying');
      else options.logger.debug(log, 'NATS still unreachable');
      await sleep(delay, undefined, { signal: options.signal }).catch(() => undefined);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
  return undefined;
}

async function watch(nc: NatsConnection, options: ConnectNatsOptions): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === 'disconnect') {
      options.logger.warn({ event: 'nats.disconnected', client: options.name }, 'NATS link lost');
      options.onStatus?.(false);
    } else if (status.type === 'reconnect') {
      options.logger.info({ event: 'nats.reconnected', client: options.name }, 'NATS link back');
      options.onStatus?.(true);
    }
  }
}
