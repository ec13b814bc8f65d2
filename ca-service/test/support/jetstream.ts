import type { JsMsg } from '@nats-io/jetstream';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

/** Every message a stream holds right now, read with an ephemeral consumer. */
export async function streamMessages(url: string, stream: string): Promise<JsMsg[]> {
  const nc = await connect({ servers: url });
  try {
    const total = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
    const messages: JsMsg[] = [];
    if (total === 0) return messages;
    for await (const message of await (await jetstream(nc).consumers.get(stream)).consume()) {
      messages.push(message);
      if (messages.length >= total) break;
    }
    return messages;
  } finally {
    await nc.close();
  }
}

/** Polls until the condition holds; the broker and the relay work asynchronously. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
