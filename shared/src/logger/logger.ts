import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import type * as Pino from 'pino';
import type { DestinationStream, Logger, LoggerOptions } from 'pino';
import { createRedactor } from './redact.js';
import { buildInfo, toSchemaRecord } from './schema.js';
import type { BuildInfo } from './schema.js';

// Required when the first logger is made, not when this package is imported: a CLI command
// that never logs (`lantern-agent status`) should not load pino and its dependencies at start.
const require = createRequire(import.meta.url);

export type { Logger } from 'pino';

/** Fields a record gets from where it is written rather than from its call site. */
export type LogFields = Record<string, unknown>;

export interface LoggerConfig {
  service: string;
  level?: string;
  /** Keyed-hash salt for pseudonymising emails and user ids; per installation, kept secret. */
  salt: string;
  destination?: DestinationStream;
  /** `version`, `commit`, `instance`; default `buildInfo()` (environment, package, `.git`). */
  build?: Partial<BuildInfo>;
  /** The `ts` of each record, in epoch milliseconds (default the system clock). */
  now?: () => number;
  /**
   * More fields for every record, e.g. `trace_id`/`span_id` of the active span. It wins over
   * the request context (`withLogContext`); the call site's own fields win over both.
   */
  mixin?: () => LogFields;
}

const contexts = new AsyncLocalStorage<() => LogFields>();

/**
 * Runs `fn` with `fields` read for every record written inside it (a request's ids, its tenant
 * and actor once known): a getter rather than a snapshot, because a request learns its tenant
 * and actor as it runs, and code far from the request (`ctx.logger`) should still log them.
 */
export function withLogContext<T>(fields: () => LogFields, fn: () => T): T {
  return contexts.run(fields, fn);
}

/**
 * Log records follow the observability spec's schema (`LOG_FIELDS`): `ts`, `level` (label),
 * `service`, `instance`, `version`, `commit`, the request's `trace_id`, `span_id`,
 * `request_id`, `tenant_id`, `actor_id_hash`, `actor_role`, `route`, then `message` (the key
 * event such as `login.success`, or the sentence), `duration_ms` and everything else under
 * `attrs`. Call sites may keep using camelCase (`tenantId`, `durationMs`) and `event`: the
 * mapping happens here, after redaction, for every argument of every level and every child
 * binding, at the moment the line is written.
 */
export function createLogger(config: LoggerConfig): Logger {
  const { pino } = require('pino') as typeof Pino;
  const redactor = createRedactor(config.salt);
  const build = { ...buildInfo(), ...config.build };
  const now = config.now ?? Date.now;
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    base: {
      service: config.service,
      instance: build.instance,
      version: build.version,
      commit: build.commit,
    },
    timestamp: () => `,"ts":"${new Date(now()).toISOString()}"`,
    messageKey: 'message',
    formatters: {
      level: (label) => ({ level: label }),
    },
    mixin: () => ({ ...contexts.getStore()?.(), ...config.mixin?.() }),
    hooks: {
      // The last hop before the stream sees the whole record, child bindings included, which
      // pino serialises ahead of time and no other hook reaches. Redaction runs on the call
      // site's names (they say what a value is), the schema mapping after it.
      streamWrite(line) {
        try {
          const redacted = redactor.value(JSON.parse(line)) as Record<string, unknown>;
          return `${JSON.stringify(toSchemaRecord(redacted))}\n`;
        } catch {
          return `${redactor.text(line)}`;
        }
      },
    },
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}
