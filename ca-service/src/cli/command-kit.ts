import { ID_NOUNS, UsageError, isId, optionalString } from '@lantern/shared';
import type { Command, CommandIo, IdPrefix } from '@lantern/shared';
import { dataDirPaths } from '../data-dir/paths.js';
import type { RootLocation } from '../data-dir/offline-root.js';
import { resolvePassphrase, resolveRootPassphrase } from '../data-dir/secret-files.js';

export type CommandValues = Parameters<Command['run']>[0];

export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = (rows[0] ?? []).map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? '').length)),
  );
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The ID positional, refused in words (not the API's regex) when it is not one. */
export function idArgument(positionals: string[], prefix: IdPrefix): string {
  const [id] = positionals;
  const noun = ID_NOUNS[prefix];
  if (!id) throw new UsageError(`give the ${noun} ID (${prefix}_…)`);
  if (!isId(id, prefix)) {
    throw new UsageError(
      `"${id}" is not ${/^[aeio]/i.test(noun) ? 'an' : 'a'} ${noun} ID: those are ${prefix}_ followed by 26 letters and digits, as the list commands print them`,
    );
  }
  return id;
}

/** From LANTERN_CA_PASSPHRASE, `--passphrase-file` or the data dir's generated file. */
export function passphraseOf(values: CommandValues, io: CommandIo, dataDir: string): string {
  return resolvePassphrase(
    io.env,
    optionalString(values, 'passphrase-file'),
    dataDirPaths(dataDir).passphraseFile,
  );
}

/** `--root-dir` and the root's own passphrase (LANTERN_CA_ROOT_PASSPHRASE or `--root-passphrase-file`). */
export function rootLocationOf(values: CommandValues, io: CommandIo): RootLocation {
  const dir = optionalString(values, 'root-dir');
  if (dir === undefined) throw new UsageError('give --root-dir (where the offline root is)');
  return {
    dir,
    passphrase: resolveRootPassphrase(io.env, optionalString(values, 'root-passphrase-file')),
  };
}

export const ROOT_OPTIONS = {
  'root-dir': { type: 'string' },
  'root-passphrase-file': { type: 'string' },
} as const;
