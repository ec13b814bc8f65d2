import type { EventDefinition } from '@lantern/shared';
import { schemaDigest, schemaPath, upcastSubjects } from '@lantern/shared';
import { format, resolveConfig } from 'prettier';

/** Where `npm run docs:events` writes, and what the staleness test compares against. */
export const EVENTS_DOC_FILE = new URL('../docs/events.md', import.meta.url);

const code = (text: string) => `\`${text}\``;

/** A source path links to the file; an outside service is named as it is. */
function who(entry: string): string {
  return entry.includes('/') ? `[${code(entry)}](../${entry})` : entry;
}

function list(entries: readonly string[], none: string): string {
  return entries.length === 0 ? none : entries.map(who).join('<br>');
}

function status(definition: EventDefinition, newest: number, upcast: ReadonlySet<string>): string {
  if (definition.version === newest) return 'current';
  if (upcast.has(`${definition.type}.v${definition.version}`)) {
    return `superseded: projections read it upcast to v${definition.version + 1}`;
  }
  return 'superseded: projections read it as stored';
}

/** docs/events.md: every event type of the catalogue with its versions, producers and consumers. */
export async function renderEventsDoc(catalogue: readonly EventDefinition[]): Promise<string> {
  const byType = new Map<string, EventDefinition[]>();
  for (const definition of catalogue) {
    byType.set(definition.type, [...(byType.get(definition.type) ?? []), definition]);
  }
  const upcast = new Set(upcastSubjects());
  const summary = [...byType].map(([type, definitions]) => {
    const versions = definitions.map((d) => d.version).sort((a, b) => a - b);
    const first = definitions[0] as EventDefinition;
    return `| [${code(type)}](#${type.replaceAll('.', '')}) | ${versions.map((v) => `v${v}`).join(', ')} | ${first.direction} | ${first.aggregate} |`;
  });
  const sections = [...byType].map(([type, definitions]) => {
    const sorted = [...definitions].sort((a, b) => a.version - b.version);
    const newest = sorted.at(-1)?.version ?? 1;
    const rows = sorted.map(
      (d) =>
        `| v${d.version} | ${status(d, newest, upcast)} | ${code(schemaPath(d.type, d.version))}<br>${code(`#${schemaDigest(d)}`)} | ${list(d.producers, 'nothing emits it now')} | ${list(d.consumers, 'none')} |`,
    );
    return [
      `### ${type}`,
      '',
      `${sorted[0]?.direction === 'consumed' ? 'Consumed' : 'Produced'}; aggregate ${code(sorted[0]?.aggregate ?? '')}.`,
      '',
      '| Version | Status | Schema URI (path on the CA, and digest) | Producers | Consumers |',
      '| --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n');
  });
  const text = [
    '# Events',
    '',
    '<!-- Generated from EVENT_CATALOGUE by `npm run docs:events` (scripts/docs-events.ts). Do not edit: a test fails while this file is stale. -->',
    '',
    'Every event the CA stores or consumes, by type and version (docs/architecture.md §6). An',
    "event's `schemaUri` is the CA's public URL followed by the path below and the schema's digest",
    'as fragment; `GET /v1/schemas` lists them all. The CA stamps `schemaUri`, `source`, `ingestedAt`,',
    '`retentionClass` (`regulated`) and `dataResidency` (from `lantern-ca init --data-residency`) on',
    "each event it stores; they are part of the row's hash, and rows stored before these fields",
    'existed are hashed, and verify, without them. A type that gained a version keeps the old one:',
    'stored events are never rewritten, and `upcast` (shared/src/events/upcasters.ts) turns an old',
    'version into the current one before any projection reads it.',
    '',
    'Producers are the source files that append the event; consumers the ones that read it',
    '(projections, the sync ingest rules, metrics). Both are declared in the catalogue and checked',
    'against the code by `test/events-doc.test.ts`.',
    '',
    '| Event | Versions | Direction | Aggregate |',
    '| --- | --- | --- | --- |',
    ...summary,
    '',
    '## By type',
    '',
    sections.join('\n\n'),
    '',
  ].join('\n');
  const config = (await resolveConfig(EVENTS_DOC_FILE.pathname)) ?? {};
  return format(text, { ...config, parser: 'markdown' });
}
