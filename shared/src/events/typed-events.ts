import type { EventEnvelope } from './envelope.js';
import type { EventPayloads } from './payloads.generated.js';

export type * from './payloads.generated.js';

export type CatalogueEventType = keyof EventPayloads;

/** The payload of `T` at version `V`, or of any of its versions. */
export type EventPayload<
  T extends CatalogueEventType,
  V extends keyof EventPayloads[T] = keyof EventPayloads[T],
> = EventPayloads[T][V];

/**
 * `E` with its type, version and payload as the catalogue declares them: a union that a
 * `switch (event.eventType)` narrows to that type's payloads (one per version).
 */
export type CatalogueEvent<E extends EventEnvelope = EventEnvelope> = {
  [T in CatalogueEventType]: {
    [V in keyof EventPayloads[T]]: Omit<E, 'eventType' | 'eventVersion' | 'payload'> & {
      eventType: T;
      eventVersion: V;
      payload: EventPayloads[T][V];
    };
  }[keyof EventPayloads[T]];
}[CatalogueEventType];
