import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';

/**
 * JetStream de-duplicates a `Nats-Msg-Id` it has seen within this window. The relay retries and
 * restarts from a cursor it persists every few hundred milliseconds, so its re-sends fall well
 * inside it; a replay (`lantern-ca events replay`) of events published longer ago than this
 * produces duplicates, which consumers tolerate by de-duplicating on `eventId`.
 */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;
const RETENTION_MS = 30 * 86_400_000;

export const IDENTITY_STREAM = 'IDENTITY';
export const DLQ_STREAM = 'IDENTITY_DLQ';
/** The relay parks at `dlq.identity.relay.<subject>`, the inbox at `dlq.identity.inbox.<subject>`. */
export const DLQ_SUBJECT_PREFIX = 'dlq.identity';

export interface IdentityStreamsOptions {
  /** 1 on a single server; 3 on a JetStream cluster. */
  replicas?: number;
}

/**
 * Limits-based retention: a message stays for 30 days whoever has read it, so a consumer that
 * was away for a week still catches up, and the event store stays the record of truth beyond
 * that (replay re-publishes from it). Files, not memory, so a broker restart keeps the stream.
 */
export function identityStreamConfigs(
  options: IdentityStreamsOptions = {},
): (Partial<StreamConfig> & { name: string })[] {
  const common = {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(RETENTION_MS),
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    num_replicas: options.replicas ?? 1,
  };
  return [
    { ...common, name: IDENTITY_STREAM, subjects: ['identity.>'] },
    { ...common, name: DLQ_STREAM, subjects: [`${DLQ_SUBJECT_PREFIX}.>`] },
  ];
}

/**
 * Creates the streams that are missing. An existing stream is left as its operator configured
 * it (a wider retention, more replicas), never narrowed behind their back.
 */
export async function ensureIdentityStreams(
  jsm: JetStreamManager,
  options: IdentityStreamsOptions = {},
): Promise<void> {
  for (const config of identityStreamConfigs(options)) {
    try {
      await jsm.streams.info(config.name);
    } catch (error) {
      const missing =
        error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
      if (!missing) throw error;
      await jsm.streams.add(config);
    }
  }
}
