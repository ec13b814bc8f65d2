import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENT_CATALOGUE } from '@lantern/shared';
import { EVENTS_DOC_FILE, renderEventsDoc } from '../scripts/event-docs.js';

const ROOT = new URL('..', import.meta.url).pathname;
/** Where events are emitted and read: the CA and the agent (the desktop shell only embeds the agent). */
const SOURCE_DIRS = ['ca-service/src', 'agent/src'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const sources = new Map(
  SOURCE_DIRS.flatMap(sourceFiles).map((path) => [path, readFileSync(join(ROOT, path), 'utf8')]),
);
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Files that append `type`: an event literal `eventType: '<type>'`. */
function emitters(type: string): string[] {
  const literal = new RegExp(`eventType: '${escape(type)}'`);
  return [...sources].filter(([, text]) => literal.test(text)).map(([path]) => path);
}

/** Files that branch on `type` (`case '<type>':`, `eventType === '<type>'`, `!==`). */
function readers(type: string): string[] {
  const read = new RegExp(`case '${escape(type)}':|[!=]== '${escape(type)}'`);
  return [...sources].filter(([, text]) => read.test(text)).map(([path]) => path);
}

const types = [...new Set(EVENT_CATALOGUE.map((definition) => definition.type))];
const versionsOf = (type: string) => EVENT_CATALOGUE.filter((d) => d.type === type);
const declared = (type: string, field: 'producers' | 'consumers') => [
  ...new Set(versionsOf(type).flatMap((definition) => definition[field])),
];
const produced = types.filter((type) => versionsOf(type)[0]?.direction === 'produced');

describe('docs/events.md', () => {
  it('is exactly what the catalogue generates (run `npm run docs:events` after changing it)', async () => {
    expect(readFileSync(EVENTS_DOC_FILE, 'utf8')).toBe(await renderEventsDoc(EVENT_CATALOGUE));
  });
});

describe('every produced catalogue type has code that emits it', () => {
  it('lists the produced types nothing emits: none', () => {
    expect(produced.filter((type) => emitters(type).length === 0)).toEqual([]);
  });

  it('declares as producers exactly the files that emit each type', () => {
    for (const type of produced) {
      expect(declared(type, 'producers').sort(), type).toEqual(emitters(type).sort());
    }
  });

  it('declares each version’s producers among those of the newest version only', () => {
    for (const type of produced) {
      const versions = versionsOf(type).sort((a, b) => a.version - b.version);
      for (const old of versions.slice(0, -1)) {
        expect(old.producers, `${type} v${old.version} is superseded`).toEqual([]);
      }
    }
  });
});

describe('consumers', () => {
  it('every declared consumer file exists and names the type', () => {
    for (const definition of EVENT_CATALOGUE) {
      for (const consumer of definition.consumers.filter((entry) => entry.includes('/'))) {
        expect(existsSync(join(ROOT, consumer)), consumer).toBe(true);
        expect(sources.get(consumer) ?? '', `${consumer} reads ${definition.type}`).toContain(
          definition.type,
        );
      }
    }
  });

  it('every file that branches on a type is declared its consumer', () => {
    for (const type of types) {
      expect(
        readers(type).filter((path) => !declared(type, 'consumers').includes(path)),
        type,
      ).toEqual([]);
    }
  });

  it('a consumed type has code that consumes it', () => {
    for (const type of types.filter((t) => !produced.includes(t))) {
      expect(
        declared(type, 'consumers').filter((entry) => sources.has(entry)),
        type,
      ).not.toEqual([]);
    }
  });
});
