/**
 * Extension point: the outbox → NATS JetStream relay (ca-service/src/outbox/relay.ts, being
 * built separately). Until that module exists this reports the figure as pending.
 *
 * To implement once it lands: start a CA (ca-setup.ts) and a NATS server with JetStream, append
 * a backlog of events (quick: 2,000; full: 50,000), and measure events/s from the event store to
 * acknowledged JetStream publishes through the relay, against a bare JetStream publish loop of
 * the same payloads with the same client (`@nats-io/jetstream`) in the same run. Replace the body
 * of `run` and keep the row's name, target and unit so results stay comparable across runs.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext, BenchResult, Benchmark } from './harness.js';
import { ROOT, pending } from './harness.js';

const RELAY_MODULE = join(ROOT, 'ca-service/src/outbox/relay.ts');
const NAME = 'Outbox relay to NATS JetStream';
const TARGET = '(target to be set)';

export const relay: Benchmark = {
  name: 'relay',
  title: 'Outbox relay to NATS JetStream (pending until the relay lands)',
  async run(context: BenchContext): Promise<BenchResult[]> {
    if (!existsSync(RELAY_MODULE)) {
      context.log('relay: ca-service/src/outbox/relay.ts is absent; reported as pending');
      return [
        pending(NAME, TARGET, 'events/s', 'ca-service/src/outbox/relay.ts does not exist yet'),
      ];
    }
    context.log(
      'relay: the module exists but its benchmark is not written yet (scripts/bench/relay.ts)',
    );
    return [
      pending(NAME, TARGET, 'events/s', 'relay module present; benchmark not implemented yet'),
    ];
  },
};
