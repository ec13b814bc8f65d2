import type { EventDefinition, JsonSchema } from '@lantern/shared';
import { format, resolveConfig } from 'prettier';

/** Where `npm run gen:event-types` writes, and what the staleness test compares against. */
export const EVENT_TYPES_FILE = new URL(
  '../shared/src/events/payloads.generated.ts',
  import.meta.url,
);

/** `identity.user.registered` v2 → `IdentityUserRegisteredV2`. */
export function payloadTypeName(definition: Pick<EventDefinition, 'type' | 'version'>): string {
  const words = definition.type.split(/[._]/);
  return `${words.map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('')}V${definition.version}`;
}

/**
 * The TypeScript type of a value the schema accepts. Only the keywords the catalogue's schema
 * parts use are known; anything else is refused so a new kind of schema cannot be typed wrongly.
 */
function typeOf(schema: JsonSchema, where: string): string {
  if (Array.isArray(schema['enum'])) {
    return (schema['enum'] as unknown[]).map((value) => JSON.stringify(value)).join(' | ');
  }
  switch (schema['type']) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array': {
      const items = typeOf(schema['items'] as JsonSchema, `${where}[]`);
      return items.includes(' | ') ? `(${items})[]` : `${items}[]`;
    }
    case 'object':
      return objectType(schema, where);
    default:
      throw new Error(`${where}: no TypeScript type for schema ${JSON.stringify(schema)}`);
  }
}

function objectType(schema: JsonSchema, where: string): string {
  if (schema['additionalProperties'] !== false) {
    throw new Error(`${where}: only strict objects (additionalProperties: false) are typed`);
  }
  const properties = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema['required'] ?? []) as string[]);
  const members = Object.entries(properties).map(
    ([name, property]) =>
      `${/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name)}${required.has(name) ? '' : '?'}: ${typeOf(property, `${where}.${name}`)};`,
  );
  return `{ ${members.join(' ')} }`;
}

/** The payload type of every catalogue entry and the map from type and version to them. */
export async function renderEventPayloadTypes(
  catalogue: readonly EventDefinition[],
): Promise<string> {
  const byType = new Map<string, EventDefinition[]>();
  for (const definition of catalogue) {
    byType.set(definition.type, [...(byType.get(definition.type) ?? []), definition]);
  }
  const interfaces = catalogue.map((definition) => {
    const name = payloadTypeName(definition);
    return `/** \`${definition.type}\` v${definition.version}. */\nexport type ${name} = ${objectType(definition.payload, name)};`;
  });
  const map = [...byType].map(
    ([type, definitions]) =>
      `${JSON.stringify(type)}: { ${definitions.map((d) => `${d.version}: ${payloadTypeName(d)};`).join(' ')} };`,
  );
  const text = [
    '// Generated from EVENT_CATALOGUE by `npm run gen:event-types` (scripts/gen-event-types.ts).',
    '// Do not edit: change the catalogue and generate again; a test fails while this file is stale.',
    '',
    ...interfaces.flatMap((declaration) => [declaration, '']),
    '/** The payload of each event type, by version. */',
    `export interface EventPayloads { ${map.join(' ')} }`,
    '',
  ].join('\n');
  const options = await resolveConfig(EVENT_TYPES_FILE);
  return format(text, { ...options, parser: 'typescript' });
}
