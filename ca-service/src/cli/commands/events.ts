import {
  EVENT_CATALOGUE,
  UsageError,
  createLogger,
  optionalString,
  requireString,
  systemClock,
} from '@lantern/shared';
import type { Command, CommandIo } from '@lantern/shared';
import { readFileSync } from 'node:fs';
import { DeadLetterQueue } from '../../outbox/dead-letter-queue.js';
import type { DeadLetterSource } from '../../outbox/dead-letter-queue.js';
import { DUPLICATE_WINDOW_MS } from '../../outbox/identity-streams.js';
import { replayEvents } from '../../outbox/replay.js';
import type { RecordedEvent } from '../../store/event-store.js';
import type { AdminClient } from '../admin-command.js';
import { adminCommand } from '../admin-command.js';
import { table } from '../command-kit.js';
import { DATABASE_OPTION, databaseGiven, openStore, position, progress } from '../local-store.js';

const EVENT_TYPES = [...new Set(EVENT_CATALOGUE.map((definition) => definition.type))].sort();

/** `--type`: a full event type, or the unique one it ends (`device.revoked`). */
function eventTypeFlag(text: string): string {
  if (EVENT_TYPES.includes(text)) return text;
  const matches = EVENT_TYPES.filter((type) => type.endsWith(`.${text}`));
  if (matches.length === 1) return matches[0] as string;
  throw new UsageError(
    `--type "${text}" ${matches.length === 0 ? 'is no event type' : `could be ${matches.join(' or ')}`}; the types are:\n  ${EVENT_TYPES.join('\n  ')}`,
  );
}

interface PagedEvents {
  events: (RecordedEvent & { quarantined?: boolean })[];
  next: number;
}

const EVENT_PAGE = 1000;
const PROGRESS_AFTER_MS = 1000;

/** `events --all`: every page, one event per line on stdout as it arrives; progress on stderr. */
async function exportAllEvents(
  admin: AdminClient,
  query: URLSearchParams,
  io: CommandIo,
): Promise<{ exported: number; next: number }> {
  const session = await admin.session('GET');
  let lastProgress = Date.now();
  let exported = 0;
  let after = Number(query.get('after') ?? '0');
  const limit = query.get('limit');
  let left = limit === null ? Number.POSITIVE_INFINITY : Number(limit);
  try {
    while (left > 0) {
      query.set('after', String(after));
      query.set('limit', String(Math.min(EVENT_PAGE, left)));
      const page = await session.request<PagedEvents>('GET', `/v1/events?${query.toString()}`);
      if (page.events.length > 0) {
        io.stdout(page.events.map((event) => JSON.stringify(event)).join('\n'));
      }
      exported += page.events.length;
      left -= page.events.length;
      after = page.next;
      const now = Date.now();
      if (now - lastProgress >= PROGRESS_AFTER_MS) {
        lastProgress = now;
        io.stderr(`  exported ${exported} events (up to position ${after})`);
      }
      if (page.events.length < EVENT_PAGE) break;
    }
  } finally {
    await session.close();
  }
  // Stderr, so stdout stays pure NDJSON: where to continue an export that will be run again.
  io.stderr(`exported ${exported} events; continue later with --after ${after}`);
  return { exported, next: after };
}

/** Through the admin API, with its filters and API key checks. */
export const eventsCommand: Command = adminCommand({
  path: ['events'],
  summary:
    'List events (filters: --device, --type, --aggregate-id, --actor, --after, --limit); --all pages through every one',
  usage:
    'events [--tenant T] [--device ID] [--type T] [--aggregate-id ID] [--actor A] [--after N] [--limit N] [--all] [--url U] [--data-dir D]\n\n' +
    '--type takes the full type (identity.device.revoked) or its unique end (device.revoked).\n' +
    '--all writes every matching event as NDJSON on stdout (one per line, with or without --json),\n' +
    'paging for you; progress and the position to continue from go to stderr.',
  options: {
    all: { type: 'boolean', default: false },
    tenant: { type: 'string' },
    device: { type: 'string' },
    type: { type: 'string' },
    'aggregate-id': { type: 'string' },
    actor: { type: 'string' },
    after: { type: 'string' },
    limit: { type: 'string' },
  },
  async run(connect, values, _positionals, io) {
    const query = new URLSearchParams();
    const map: [string, string][] = [
      ['tenant', 'tenant'],
      ['device', 'device'],
      ['type', 'type'],
      ['aggregate-id', 'aggregateId'],
      ['actor', 'actor'],
      ['after', 'after'],
      ['limit', 'limit'],
    ];
    for (const [flag, param] of map) {
      const value = optionalString(values, flag);
      if (value !== undefined) query.set(param, flag === 'type' ? eventTypeFlag(value) : value);
    }
    for (const flag of ['after', 'limit']) {
      const value = optionalString(values, flag);
      if (value !== undefined && !/^\d+$/.test(value)) {
        throw new UsageError(`--${flag} must be a whole number, not "${value}"`);
      }
    }
    if (values['all']) {
      const { exported, next } = await exportAllEvents(connect(), query, io);
      return { json: { exported, next }, human: '', quiet: true };
    }
    const limit = optionalString(values, 'limit');
    if (limit !== undefined && Number(limit) > EVENT_PAGE) {
      throw new UsageError(
        `--limit ${limit} is more than one page (${EVENT_PAGE}); add --all to page through every event`,
      );
    }
    const { events, next } = await connect().request<PagedEvents>(
      'GET',
      `/v1/events?${query.toString()}`,
    );
    return {
      json: { events, next },
      human:
        events.length === 0
          ? 'No events match.'
          : table([
              ['POSITION', 'OCCURRED', 'TYPE', 'AGGREGATE', 'ACTOR', 'FLAGS'],
              ...events.map((e) => [
                String(e.position),
                e.occurredAt,
                e.eventType,
                e.aggregateId,
                `${e.actor.type}:${e.actor.id}`,
                e.quarantined ? 'quarantined' : '',
              ]),
            ]),
    };
  },
});

/** On the store file itself, beside a live `serve`: the backbone's replay and its DLQ. */
export const eventStoreCommands: Command[] = [
  {
    path: ['events', 'replay'],
    summary:
      'Re-publish a range of events to NATS JetStream (duplicates are dropped for 2 minutes)',
    usage:
      'events replay --to-nats URL --from POSITION [--to POSITION] [--window 256] --data-dir D',
    options: {
      'data-dir': { type: 'string' },
      ...DATABASE_OPTION,
      'to-nats': { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      window: { type: 'string' },
    },
    async run(values, _positionals, io) {
      const servers = requireString(values, 'to-nats');
      const from = position(values, 'from');
      if (from === undefined) throw new UsageError('--from is required');
      const to = position(values, 'to');
      if (to !== undefined && to < from) throw new UsageError('--to must not be before --from');
      const window = position(values, 'window');
      const { store, paths, close } = await openStore(
        requireString(values, 'data-dir'),
        databaseGiven(values, io),
      );
      try {
        const result = await replayEvents({
          store,
          clock: systemClock,
          logger: createLogger({
            service: 'lantern-ca',
            level: 'warn',
            salt: readFileSync(paths.logSalt, 'utf8').trim(),
            destination: process.stderr,
          }),
          servers,
          from,
          ...(to === undefined ? {} : { to }),
          ...(window === undefined ? {} : { window }),
          onProgress: progress(values, io, 'published'),
        });
        const minutes = DUPLICATE_WINDOW_MS / 60_000;
        return {
          json: { ...result, duplicateWindowSeconds: DUPLICATE_WINDOW_MS / 1000 },
          human: [
            `Re-published positions ${result.from}-${result.to}: ${result.published} stored, ` +
              `${result.duplicates} dropped as duplicates, ${result.parked} parked in the DLQ.`,
            `The stream drops only message ids it saw in the last ${minutes} minutes; older events ` +
              `were stored again and consumers de-duplicate them by eventId.`,
          ].join('\n'),
        };
      } finally {
        await close();
      }
    },
  },
  {
    path: ['events', 'dead-letters'],
    summary: 'List events the relay and messages the inbox parked in the DLQ, with the reason',
    usage: 'events dead-letters [--source relay|inbox] [--limit 100] --data-dir D',
    options: {
      'data-dir': { type: 'string' },
      ...DATABASE_OPTION,
      source: { type: 'string' },
      limit: { type: 'string' },
    },
    async run(values, _positionals, io) {
      const source = optionalString(values, 'source');
      if (source !== undefined && source !== 'relay' && source !== 'inbox')
        throw new UsageError('--source is relay or inbox');
      const limit = position(values, 'limit') ?? 100;
      const { store, close } = await openStore(
        requireString(values, 'data-dir'),
        databaseGiven(values, io),
      );
      try {
        const letters = await new DeadLetterQueue(store.db, systemClock).list(
          source as DeadLetterSource | undefined,
          limit,
        );
        return {
          json: { deadLetters: letters },
          human:
            letters.length === 0
              ? 'The DLQ is empty.'
              : letters
                  .map(
                    (letter) =>
                      `${letter.parkedAt}  ${letter.source}  ${letter.subject}  ${letter.eventId ?? '-'}\n    ${letter.reason}`,
                  )
                  .join('\n'),
        };
      } finally {
        await close();
      }
    },
  },
];
