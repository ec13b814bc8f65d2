import { writeFileSync } from 'node:fs';
import { renderErrorsTable } from '@lantern/shared';
import { ERROR_SECTIONS } from './error-sections.js';

const target = new URL('../docs/errors.md', import.meta.url);
writeFileSync(target, renderErrorsTable(ERROR_SECTIONS));
console.log(`wrote ${target.pathname}`);
