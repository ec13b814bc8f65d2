import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMAIL_KEY, IP_KEY, PERSON_ID_KEY } from './redact.js';

/**
 * The top-level fields of a log record, in the order they are written (the observability
 * spec's log schema, `log_schema_version: 3`). Anything else a call site passes goes under
 * `attrs`, so no record can carry an unknown top-level field.
 */
export const LOG_FIELDS = [
  'ts',
  'level',
  'service',
  'instance',
  'version',
  'commit',
  'trace_id',
  'span_id',
  'request_id',
  'tenant_id',
  'actor_id_hash',
  'actor_role',
  'route',
  'message',
  'duration_ms',
  'attrs',
] as const;
export type LogField = (typeof LOG_FIELDS)[number];

/** On every record. */
export const LOG_FIELDS_ALWAYS: readonly LogField[] = [
  'ts',
  'level',
  'service',
  'instance',
  'version',
  'commit',
  'message',
];
/** On every record written while serving a request, in addition. */
export const LOG_FIELDS_PER_REQUEST: readonly LogField[] = [
  'trace_id',
  'span_id',
  'request_id',
  'route',
];

/** The camelCase names call sites (and Fastify) use for schema fields. */
const ALIASES: Readonly<Record<string, LogField>> = {
  time: 'ts',
  msg: 'message',
  traceId: 'trace_id',
  spanId: 'span_id',
  requestId: 'request_id',
  reqId: 'request_id',
  tenantId: 'tenant_id',
  actorId: 'actor_id_hash',
  actorHash: 'actor_id_hash',
  actorRole: 'actor_role',
  durationMs: 'duration_ms',
};
const SCHEMA = new Set<string>(LOG_FIELDS);

function snakeCase(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/-/g, '_')
    .toLowerCase();
}

/** The name an attribute is written under: snake case, and saying what the redactor made of it. */
function attributeName(key: string): string {
  if (EMAIL_KEY.test(key)) return 'email_hash';
  const snake = snakeCase(key);
  if (PERSON_ID_KEY.test(key)) return snake.endsWith('_hash') ? snake : `${snake}_hash`;
  if (IP_KEY.test(key)) return `${snake}_masked`;
  return snake;
}

/**
 * Maps an already redacted pino record onto the schema. `event` (the spec's key log event, e.g.
 * `login.failure.invalid_credentials`) becomes `message`, the human sentence then moves to
 * `attrs.detail`; a record without an event keeps its sentence as `message`.
 */
export function toSchemaRecord(record: Record<string, unknown>): Record<string, unknown> {
  const top: Partial<Record<LogField, unknown>> = {};
  const attrs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined) continue;
    const field = SCHEMA.has(key) ? (key as LogField) : ALIASES[key];
    if (field === 'attrs' && value !== null && typeof value === 'object') {
      Object.assign(attrs, value);
    } else if (field !== undefined) {
      top[field] = value;
    } else if (key !== 'event') {
      attrs[attributeName(key)] = value;
    }
  }
  const event = record['event'];
  if (typeof event === 'string' && event !== '') {
    if (typeof top.message === 'string' && top.message !== '' && top.message !== event) {
      attrs['detail'] = top.message;
    }
    top.message = event;
  }
  top.message ??= '';
  if (Object.keys(attrs).length > 0) top.attrs = attrs;
  const out: Record<string, unknown> = {};
  for (const field of LOG_FIELDS) if (top[field] !== undefined) out[field] = top[field];
  return out;
}

export interface BuildInfo {
  version: string;
  commit: string;
  instance: string;
}

let cached: BuildInfo | undefined;

/**
 * `version`, `commit` and `instance` of every record, read once per process. `LANTERN_VERSION`,
 * `LANTERN_COMMIT` and `LANTERN_INSTANCE` win (a container image sets them at build time);
 * otherwise the version is the packages' (they are released together), the commit is read from
 * the checkout's `.git` files without starting `git`, and the instance is `host:pid`.
 */
export function buildInfo(env: NodeJS.ProcessEnv = process.env): BuildInfo {
  if (env === process.env && cached) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  const info = {
    version: env['LANTERN_VERSION'] || packageVersion(here),
    commit: env['LANTERN_COMMIT'] || gitCommit(here) || 'unknown',
    instance: env['LANTERN_INSTANCE'] || `${hostname()}:${process.pid}`,
  };
  if (env === process.env) cached = info;
  return info;
}

function packageVersion(from: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(from, '../../package.json'), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** HEAD's commit from the nearest `.git` (a directory, or a worktree's `gitdir:` file). */
export function gitCommit(from: string): string | undefined {
  try {
    let dir = resolve(from);
    while (!existsSync(join(dir, '.git'))) {
      const up = dirname(dir);
      if (up === dir) return undefined;
      dir = up;
    }
    let gitDir = join(dir, '.git');
    if (!existsSync(join(gitDir, 'HEAD'))) {
      const pointer = /^gitdir:\s*(.+)$/m.exec(readFileSync(gitDir, 'utf8'))?.[1]?.trim();
      if (!pointer) return undefined;
      gitDir = isAbsolute(pointer) ? pointer : resolve(dir, pointer);
    }
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    const ref = /^ref:\s*(.+)$/.exec(head)?.[1];
    if (!ref) return /^[0-9a-f]{40,64}$/.test(head) ? head : undefined;
    const common = existsSync(join(gitDir, 'commondir'))
      ? resolve(gitDir, readFileSync(join(gitDir, 'commondir'), 'utf8').trim())
      : gitDir;
    for (const base of [gitDir, common]) {
      const file = join(base, ref);
      if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    }
    const packed = readFileSync(join(common, 'packed-refs'), 'utf8');
    return new RegExp(
      `^([0-9a-f]{40,64}) ${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`,
      'm',
    ).exec(packed)?.[1];
  } catch {
    return undefined;
  }
}
