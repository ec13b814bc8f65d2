import { createRequire } from 'node:module';
import type * as Pino from 'pino';
import type { DestinationStream, Logger, LoggerOptions } from 'pino';
import { createRedactor } from './redact.js';

// Required when the first logger is made, not when this package is imported: a CLI command
// that never logs (`lantern-agent status`) should not load pino and its dependencies at start.
const require = createRequire(import.meta.url);

export type { Logger } from 'pino';

export interface LoggerConfig {
  service: string;
  level?: string;
  /** Keyed-hash salt for pseudonymising emails and user ids; per installation, kept secret. */
  salt: string;
  destination?: DestinationStream;
}

/**
 * Log records follow one schema: `time` (ISO), `level` (label), `service`, `event` (a dotted
 * name such as `login.success`), `msg`, plus `traceId`, `requestId`, `tenantId`, `actorHash`,
 * `route`, `statusCode`, `durationMs` where they apply. Redaction happens here, for every
 * argument of every level and every child binding, at the moment the line is written.
 */
export function createLogger(config: LoggerConfig): Logger {
  const { pino } = require('pino') as typeof Pino;
  const redactor = createRedactor(config.salt);
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    base: { service: config.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    formatters: {
      level: (label) => ({ level: label }),
    },
    hooks: {
      // The last hop before the stream sees the whole record, child bindings included, which
      // pino serialises ahead of time and no other hook reaches.
      streamWrite(line) {
        try {
          return `${JSON.stringify(redactor.value(JSON.parse(line)))}\n`;
        } catch {
          return `${redactor.text(line)}`;
        }
      },
    },
  };
  return config.destination ? pino(options, config.destination) : pino(options);
}
