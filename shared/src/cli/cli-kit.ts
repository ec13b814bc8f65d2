import { LanternError } from '../errors/lantern-error.js';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readStdin: () => Promise<string>;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  /** Words that select the command, e.g. ['enroll-token', 'create']. */
  path: string[];
  summary: string;
  usage: string;
  options: OptionSpec;
  /**
   * Returns the one JSON object printed with --json, and the lines printed otherwise; `quiet`
   * when the command wrote its own stdout (a stream, JSON logs) and nothing more may follow.
   */
  run(
    values: Record<string, string | boolean | undefined>,
    positionals: string[],
    io: CommandIo,
  ): Promise<{ json: Record<string, unknown>; human: string; quiet?: boolean }>;
}

export class UsageError extends Error {}

const COMMON: OptionSpec = {
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};

function helpText(program: string, commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.path.join(' ').length));
  return [
    `usage: ${program} <command> [options]`,
    '',
    'commands:',
    ...commands.map((command) => `  ${command.path.join(' ').padEnd(width)}  ${command.summary}`),
    '',
    `Every command takes --json (one JSON object on stdout) and --help.`,
    `Exit codes: 0 ok, 1 refused (the error code is printed), 2 usage.`,
  ].join('\n');
}

/** The word of `argv` that selects no command, with the nearest one that would. */
function unknownCommand(commands: readonly Command[], argv: string[]): string {
  let depth = 0;
  let candidates = commands;
  for (;;) {
    const word = argv[depth];
    const next = candidates.filter((command) => command.path[depth] === word);
    if (word === undefined || word.startsWith('-') || next.length === 0) break;
    candidates = next;
    depth += 1;
  }
  const word = argv[depth];
  const known = [...new Set(candidates.map((c) => c.path[depth]).filter((w): w is string => !!w))];
  const group = argv.slice(0, depth).join(' ');
  if (word === undefined || word.startsWith('-')) {
    return `'${group}' needs a command: ${known.join(', ')}`;
  }
  const nearest = known
    .map((candidate) => ({ candidate, distance: editDistance(word, candidate) }))
    .sort((a, b) => a.distance - b.distance)[0];
  const hint =
    nearest && nearest.distance <= Math.max(2, Math.floor(word.length / 3))
      ? `; did you mean '${nearest.candidate}'?`
      : `; ${group ? `'${group}' takes` : 'commands are'}: ${known.join(', ')}`;
  return `unknown command '${word}'${hint}`;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      (rows[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** Runs one command line; returns the exit code. */
export async function runCli(
  program: string,
  commands: readonly Command[],
  argv: string[],
  io: CommandIo,
): Promise<number> {
  const command = commands
    .filter((candidate) => candidate.path.every((word, index) => argv[index] === word))
    .sort((a, b) => b.path.length - a.path.length)[0];
  if (!command) {
    const wantsHelp =
      argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help';
    if (wantsHelp) {
      io.stdout(helpText(program, commands));
      return 0;
    }
    io.stderr(
      `${program}: ${unknownCommand(commands, argv)}\nrun \`${program} --help\` for the list`,
    );
    return 2;
  }
  const rest = argv.slice(command.path.length);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...COMMON, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    io.stderr(
      `${program} ${command.path.join(' ')}: ${(error as Error).message}\nusage: ${program} ${command.usage}`,
    );
    return 2;
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values['help']) {
    io.stdout(`usage: ${program} ${command.usage}\n\n${command.summary}`);
    return 0;
  }
  const json = values['json'] === true;
  try {
    const result = await command.run(values, parsed.positionals, io);
    if (!result.quiet) io.stdout(json ? JSON.stringify(result.json) : result.human);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(
        `${program} ${command.path.join(' ')}: ${error.message}\nusage: ${program} ${command.usage}`,
      );
      return 2;
    }
    const code = error instanceof LanternError ? error.code : 'internal_error';
    const message = error instanceof Error ? error.message : String(error);
    if (json) io.stdout(JSON.stringify({ code, message }));
    else io.stderr(`${program}: ${message} (${code})`);
    return 1;
  }
}

export function requireString(
  values: Record<string, string | boolean | undefined>,
  name: string,
): string {
  const value = values[name];
  if (typeof value !== 'string' || value.length === 0)
    throw new UsageError(`--${name} is required`);
  return value;
}

export function optionalString(
  values: Record<string, string | boolean | undefined>,
  name: string,
): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A flag that takes one of a fixed set of words; anything else is a usage error naming them. */
export function requireOneOf<T extends string>(
  values: Record<string, string | boolean | undefined>,
  name: string,
  allowed: readonly T[],
): T {
  const value = values[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new UsageError(`--${name} is required: one of ${allowed.join(', ')}`);
  }
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} "${value}" is not allowed: use one of ${allowed.join(', ')}`);
  }
  return value as T;
}

const DURATION = /^(\d+)(s|m|h|d)$/;

export function parseDuration(text: string): number {
  const match = DURATION.exec(text);
  if (!match) throw new UsageError(`"${text}" is not a duration like 90s, 15m, 1h or 7d`);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

/** Seconds in the words an admin types: 7 days, 1 hour, 90 seconds. */
export function describeDuration(seconds: number): string {
  for (const [size, unit] of [
    [86_400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
  ] as const) {
    if (seconds >= size && seconds % size === 0) {
      const count = seconds / size;
      return `${count} ${unit}${count === 1 ? '' : 's'}`;
    }
  }
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

/** `parseDuration`, refused as a usage error outside [min, max] in the user's own units. */
export function parseDurationWithin(
  flag: string,
  text: string,
  bounds: { min: number; max: number },
): number {
  const seconds = parseDuration(text);
  if (seconds > bounds.max) {
    throw new UsageError(`--${flag} ${text} is too long: at most ${describeDuration(bounds.max)}`);
  }
  if (seconds < bounds.min) {
    throw new UsageError(
      `--${flag} ${text} is too short: at least ${describeDuration(bounds.min)}`,
    );
  }
  return seconds;
}
