import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LanternError, renderErrorsTable } from '@lantern/shared';
import { ERROR_SECTIONS } from '../scripts/error-sections.js';

const documented = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const all = ERROR_SECTIONS.flatMap((section) => section.errors);

describe('docs/errors.md', () => {
  it('is exactly what the code generates (run `npm run docs:errors` after changing an error)', () => {
    expect(documented).toBe(renderErrorsTable(ERROR_SECTIONS));
  });

  it('documents every code once and no code the software does not have', () => {
    const inDocs = [...documented.matchAll(/^\| `([a-z_]+)` \|/gm)].map((match) => match[1]);
    const inCode = all.map((error) => error.definition.code);
    expect(new Set(inCode).size).toBe(inCode.length);
    expect([...inDocs].sort()).toEqual([...inCode].sort());
  });

  it('gives every class its own code, an HTTP status and a meaning and fix', () => {
    for (const ErrorClass of all) {
      const { code, status, meaning, fix } = ErrorClass.definition;
      const instance = new (ErrorClass as unknown as new () => LanternError)();
      expect(instance).toBeInstanceOf(LanternError);
      expect(instance.code).toBe(code);
      expect(instance.status).toBe(status);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(meaning.length).toBeGreaterThan(10);
      expect(fix.length).toBeGreaterThan(10);
      expect(instance.toJSON()).toEqual({ code, message: meaning });
    }
  });
});
