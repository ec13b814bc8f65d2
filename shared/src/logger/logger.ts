import type { DestinationStream, Logger, LoggerOptions } from 'pino';
import { pino } from 'pino';
import { createRedactor } from './redact.js';

export type { Logger } from 'pino';

export interface LoggerConfig {
  service: string;
  level?: string;
  /** Keyed-hash salt for pseudonymising emails and user ids; per installation, kept secret. */
  salt: string;
  destination?: DestinationStream;
  /**
   * Fields merged into every record at the moment it is written (pino's mixin), e.g. the
   * active span's `trace_id` and `span_id`; redacted like the rest of the record.
   */
  mixin?: () => Record<string, unknown>;
}

/**
 * Log records follow one schema: `time` (ISO), `level` (label), `service`, `event` (a dotted
 * name such as `login.success`), `msg`, plus `traceId`, `requestId`, `tenantId`, `actorHash`,
 * `route`, `statusCode`, `durationMs` where they apply. Redaction happens here, for every
 * argument of every level and every child binding, at the moment the line is written.
 */
export function createLogger(config: LoggerConfig): Logger {
  const redactor = createRedactor(config.salt);
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    base: { service: config.service },
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    ...(config.mixin ? { mixin: config.mixin } : {}),
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
