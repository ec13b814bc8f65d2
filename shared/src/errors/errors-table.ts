import type { ErrorDefinition } from './lantern-error.js';

export interface ErrorCatalogueSection {
  readonly title: string;
  readonly errors: readonly { readonly definition: ErrorDefinition }[];
}

/** Renders docs/errors.md; a test regenerates it and fails when the file differs. */
export function renderErrorsTable(sections: readonly ErrorCatalogueSection[]): string {
  const escape = (text: string) => text.replaceAll('|', '\\|');
  const lines = [
    '# Error codes',
    '',
    'Every error response is `{ "code": "...", "message": "..." }`. `code` is stable; `message` is for people.',
    'This file is generated from the code (`npm run docs:errors`); a test fails when the two differ.',
  ];
  for (const section of sections) {
    lines.push(
      '',
      `## ${section.title}`,
      '',
      '| code | HTTP | meaning | fix |',
      '| --- | --- | --- | --- |',
    );
    for (const { definition } of section.errors) {
      lines.push(
        `| \`${definition.code}\` | ${definition.status} | ${escape(definition.meaning)} | ${escape(definition.fix)} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
