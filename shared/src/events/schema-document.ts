import { createHash } from 'node:crypto';
import { canonicalJson } from '../encoding/canonical-json.js';
import type { EventDefinition } from './catalogue.js';

/** Where the CA serves the payload schema of one event type and version. */
export function schemaPath(eventType: string, version: number): string {
  return `/v1/schemas/${eventType}/v${version}`;
}

/**
 * `sha256-<hex>` of the schema's canonical JSON: a consumer that cached a schema by its URI can
 * tell it still has the one the producer validated against.
 */
export function schemaDigest(definition: EventDefinition): string {
  let digest = digests.get(definition);
  if (digest === undefined) {
    digest = `sha256-${createHash('sha256').update(canonicalJson(definition.payload)).digest('hex')}`;
    digests.set(definition, digest);
  }
  return digest;
}

// Every append stamps a schema URI: hash each definition once, not once per event.
const digests = new WeakMap<EventDefinition, string>();

/**
 * The envelope's `schemaUri`: the URL `GET /v1/schemas/:type/v:N` answers at, with the schema's
 * digest as its fragment (a fragment never reaches the server, so the URL still resolves).
 */
export function schemaUri(definition: EventDefinition, baseUrl: string): string {
  let byBase = uris.get(definition);
  if (byBase === undefined) {
    byBase = new Map();
    uris.set(definition, byBase);
  }
  let uri = byBase.get(baseUrl);
  if (uri === undefined) {
    uri = `${new URL(schemaPath(definition.type, definition.version), baseUrl).href}#${schemaDigest(definition)}`;
    byBase.set(baseUrl, uri);
  }
  return uri;
}

// Also stamped on every append: parsing the URL each time was ~4 % of an enrollment's store time.
const uris = new WeakMap<EventDefinition, Map<string, string>>();

/** The payload schema as a standalone JSON Schema 2020-12 document, identified by its URL. */
export function schemaDocument(definition: EventDefinition, baseUrl: string): object {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: new URL(schemaPath(definition.type, definition.version), baseUrl).href,
    title: `${definition.type} v${definition.version}`,
    ...definition.payload,
  };
}
