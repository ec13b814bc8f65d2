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
  /** Returns the one JSON object printed with --json, and the lines printed otherwise. */
  run(
    values: Record<string, string | boolean | undefined>,
    positionals: string[],
    io: CommandIo,
  ): Promise<{ json: Record<string, unknown>; human: string }>;
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
    (wantsHelp ? io.stdout : io.stderr)(helpText(program, commands));
    return wantsHelp ? 0 : 2;
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
    io.stdout(json ? JSON.stringify(result.json) : result.human);
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

const DURATION = /^(\d+)(s|m|h|d)$/;

export function parseDuration(text: string): number {
  const match = DURATION.exec(text);
  if (!match) throw new UsageError(`"${text}" is not a duration like 90s, 15m, 1h or 7d`);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}
