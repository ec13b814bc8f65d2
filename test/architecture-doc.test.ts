import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url);
const doc = readFileSync(new URL('docs/architecture.md', root), 'utf8');

/** Section number → the numbered items (`1.`, `2.`, …) its body lists. */
function sections(): Map<number, Set<number>> {
  const found = new Map<number, Set<number>>();
  for (const part of doc.split(/^## /m).slice(1)) {
    const number = /^(\d+)\. /.exec(part)?.[1];
    if (number === undefined) continue;
    const items = [...part.matchAll(/^(\d+)\. /gm)].map((match) => Number(match[1]));
    found.set(Number(number), new Set(items));
  }
  return found;
}

describe('docs/architecture.md', () => {
  it('has every section and numbered item the code cites as `docs/architecture.md §n[.m]`', () => {
    const cited = execFileSync(
      'git',
      ['grep', '-ohE', 'docs/architecture\\.md §[0-9]+(\\.[0-9]+)?', '--', '.'],
      { cwd: root, encoding: 'utf8' },
    )
      .split('\n')
      .filter((line) => line !== '');
    expect(cited.length).toBeGreaterThan(50);
    const known = sections();
    const missing = [...new Set(cited)].filter((citation) => {
      const [section, item] = citation.replace('docs/architecture.md §', '').split('.').map(Number);
      const items = known.get(section ?? -1);
      return items === undefined || (item !== undefined && !items.has(item));
    });
    expect(missing).toEqual([]);
  });
});
