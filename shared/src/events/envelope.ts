import { idPattern } from '../ids/ids.js';
import type { JsonSchema } from './schema-parts.js';

export type ActorType = 'user' | 'device' | 'api_key' | 'system';

export interface Actor {
  type: ActorType;
  id: string;
}

/** docs/architecture.md §6: the fields every event carries, whatever its payload. */
export interface EventEnvelope<P = Record<string, unknown>> {
  eventId: string;
  eventType: string;
  eventVersion: number;
  occurredAt: string;
  tenantId: string;
  actor: Actor;
  correlationId: string;
  causationId?: string;
  partitionKey: string;
  payload: P;
}

/** The envelope fields every event must carry (`causationId` is the optional one). */
export const ENVELOPE_REQUIRED = [
  'eventId',
  'eventType',
  'eventVersion',
  'occurredAt',
  'tenantId',
  'actor',
  'correlationId',
  'partitionKey',
  'payload',
] as const satisfies readonly (keyof EventEnvelope)[];

export const ENVELOPE_SCHEMA: JsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:lantern:schema:envelope',
  type: 'object',
  additionalProperties: false,
  required: [...ENVELOPE_REQUIRED],
  properties: {
    eventId: { type: 'string', pattern: idPattern('evt') },
    eventType: { type: 'string', pattern: '^[a-z]+(\\.[a-z_]+){2,}$', maxLength: 128 },
    eventVersion: { type: 'integer', minimum: 1, maximum: 1000 },
    occurredAt: { type: 'string', format: 'date-time' },
    tenantId: { type: 'string', pattern: idPattern('ten') },
    actor: {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'id'],
      properties: {
        type: { type: 'string', enum: ['user', 'device', 'api_key', 'system'] },
        id: { type: 'string', minLength: 1, maxLength: 64 },
      },
    },
    correlationId: { type: 'string', minLength: 1, maxLength: 128 },
    causationId: { type: 'string', minLength: 1, maxLength: 128 },
    partitionKey: { type: 'string', minLength: 1, maxLength: 128 },
    payload: { type: 'object' },
  },
};

/** NATS subject of an event: `identity.device.revoked` v1 → `identity.device.revoked.v1`. */
export function eventSubject(eventType: string, eventVersion: number): string {
  return `${eventType}.v${eventVersion}`;
}
