import { idPattern } from '../ids/ids.js';
import type { JsonSchema } from './schema-parts.js';

export type ActorType = 'user' | 'device' | 'api_key' | 'system';

export interface Actor {
  type: ActorType;
  id: string;
}

/** Who wrote the event: the CA instance, or for what a device pushes, the device's agent. */
export interface EventSource {
  service: 'lantern-ca' | 'lantern-agent';
  instance: string;
}

/** Where a tenant's data must stay (identity event schemas §4). */
export const DATA_RESIDENCIES = ['us', 'eu', 'me', 'ap'] as const;
export type DataResidency = (typeof DATA_RESIDENCIES)[number];

/** Identity events are `regulated` (identity event schemas §1): 180 days hot, 7 years cold. */
export const RETENTION_CLASS = 'regulated';

/**
 * docs/architecture.md §6: the fields every event carries, whatever its payload. The CA stamps
 * the last five when it stores the event (events stored before they existed lack them), so a
 * producer never sets them.
 */
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
  /** `<CA public URL>/v1/schemas/<type>/v<N>#sha256-<hex>`: the payload schema, and its digest. */
  schemaUri?: string;
  source?: EventSource;
  /** When the CA stored the event (for a device's event, when its sync reached the CA). */
  ingestedAt?: string;
  retentionClass?: string;
  dataResidency?: DataResidency;
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
    schemaUri: { type: 'string', format: 'uri', maxLength: 512 },
    source: {
      type: 'object',
      additionalProperties: false,
      required: ['service', 'instance'],
      properties: {
        service: { type: 'string', enum: ['lantern-ca', 'lantern-agent'] },
        instance: { type: 'string', minLength: 1, maxLength: 128 },
      },
    },
    ingestedAt: { type: 'string', format: 'date-time' },
    retentionClass: { type: 'string', pattern: '^[a-z_]{1,32}$' },
    dataResidency: { type: 'string', enum: [...DATA_RESIDENCIES] },
  },
};

/** NATS subject of an event: `identity.device.revoked` v1 → `identity.device.revoked.v1`. */
export function eventSubject(eventType: string, eventVersion: number): string {
  return `${eventType}.v${eventVersion}`;
}
