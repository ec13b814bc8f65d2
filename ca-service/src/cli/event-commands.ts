import type { Command, CommandIo } from '@lantern/shared';
import {
  EventValidator,
  UsageError,
  createIdGenerator,
  createLogger,
  optionalString,
  requireString,
  systemClock,
} from '@lantern/shared';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { retiredIssuerIds } from '../data-dir/rotate-issuing.js';
import { AuditCheckpoints } from '../audit/audit-checkpoints.js';
import { verifyChain } from '../audit/verify-chain.js';
import { openDatabase } from '../data-dir/open-ca.js';
import { dataDirPaths } from '../data-dir/paths.js';
import { resolvePassphrase } from '../data-dir/secret-files.js';
import { AuditChainBrokenError, CaNotInitializedError } from '../errors.js';
import { DeadLetterQueue } from '../outbox/dead-letter-queue.js';
import type { DeadLetterSource } from '../outbox/dead-letter-queue.js';
import { DUPLICATE_WINDOW_MS } from '../outbox/identity-streams.js';
import { replayEvents } from '../outbox/replay.js';
import { fileSigner } from '../pki/signer.js';
import { EventStore } from '../store/event-store.js';

const PROGRESS_EVERY = 50_000;

/**
 * The store opened for reading and for the backbone's own tables, without the CA keys: these
 * commands run beside a live `serve` (SQLite WAL) or on a copy of its data directory.
 */
function openStore(dataDir: string) {
  const paths = dataDirPaths(dataDir);
  if (!existsSync(paths.database))
    throw new CaNotInitializedError(`no event store in ${dataDir}; is it a lantern-ca data dir?`);
  const db = openDatabase(paths.database, systemClock);
  const store = new EventStore(db, {
    clock: systemClock,
    ids: createIdGenerator(systemClock),
    validator: new EventValidator(),
    projections: [],
  });
  return { store, paths, close: () => db.close() };
}

function position(values: Record<string, string | boolean | undefined>, name: string) {
  const text = optionalString(values, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new UsageError(`--${name} must be a position (an integer from 1)`);
  return value;
}

/** Progress on stderr for humans; nothing with --json, whose stdout is one object. */
function progress(
  values: Record<string, string | boolean | undefined>,
  io: CommandIo,
  verb: string,
) {
  let shown = 0;
  return (done: number, total: number) => {
    if (values['json'] || (done - shown < PROGRESS_EVERY && done < total) || done === shown) return;
    shown = done;
    io.stderr(`  ${verb} ${done}/${total} events`);
  };
}

export const eventCommands: Command[] = [
  {
    path: ['events', 'replay'],
    summary:
      'Re-publish a range of events to NATS JetStream (duplicates are dropped for 2 minutes)',
    usage:
      'events replay --to-nats URL --from POSITION [--to POSITION] [--window 256] --data-dir D',
    options: {
      'data-dir': { type: 'string' },
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
      const { store, paths, close } = openStore(requireString(values, 'data-dir'));
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
        close();
      }
    },
  },
  {
    path: ['events', 'dead-letters'],
    summary: 'List events the relay and messages the inbox parked in the DLQ, with the reason',
    usage: 'events dead-letters [--source relay|inbox] [--limit 100] --data-dir D',
    options: {
      'data-dir': { type: 'string' },
      source: { type: 'string' },
      limit: { type: 'string' },
    },
    async run(values) {
      const source = optionalString(values, 'source');
      if (source !== undefined && source !== 'relay' && source !== 'inbox')
        throw new UsageError('--source is relay or inbox');
      const limit = position(values, 'limit') ?? 100;
      const { store, close } = openStore(requireString(values, 'data-dir'));
      try {
        const letters = new DeadLetterQueue(store.db, systemClock).list(
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
        close();
      }
    },
  },
  {
    path: ['audit', 'verify'],
    summary:
      'Verify the event hash chain and the signed checkpoints; names the first broken position',
    usage: 'audit verify --data-dir D [--json]',
    options: { 'data-dir': { type: 'string' } },
    async run(values, _positionals, io) {
      const { store, paths, close } = openStore(requireString(values, 'data-dir'));
      try {
        const chain = verifyChain(store, progress(values, io, 'verified'));
        const checkpoints = new AuditCheckpoints(store, systemClock, {
          issuingPem: readFileSync(paths.issuingCertificate, 'utf8'),
          retiredIssuingPems: retiredIssuerIds(paths).map((id) =>
            readFileSync(join(paths.retiredIssuers, `${id}.pem`), 'utf8'),
          ),
        }).verifyStored();
        const firstBadCheckpoint = checkpoints.failures.at(-1);
        if (!chain.ok) {
          throw new AuditChainBrokenError(
            `the hash chain breaks at position ${chain.brokenAt}: ${chain.reason}`,
            { details: { ...chain, checkpointFailures: checkpoints.failures } },
          );
        }
        if (firstBadCheckpoint) {
          throw new AuditChainBrokenError(
            `the checkpoint at position ${firstBadCheckpoint.position} (${firstBadCheckpoint.time}) does not verify: ${firstBadCheckpoint.reason}`,
            { details: { ...chain, checkpointFailures: checkpoints.failures } },
          );
        }
        return {
          json: {
            ok: true,
            checked: chain.checked,
            head: chain.head,
            checkpoints: checkpoints.checked,
          },
          human: `Hash chain intact: ${chain.checked} events, head ${chain.head.position} ${chain.head.hash}; ${checkpoints.checked} signed checkpoints verify.`,
        };
      } finally {
        close();
      }
    },
  },
  {
    path: ['audit', 'checkpoint'],
    summary: 'Sign a checkpoint of the hash chain head with the issuing CA key',
    usage: 'audit checkpoint --data-dir D [--passphrase-file F]',
    options: { 'data-dir': { type: 'string' }, 'passphrase-file': { type: 'string' } },
    async run(values, _positionals, io) {
      const { store, paths, close } = openStore(requireString(values, 'data-dir'));
      try {
        const passphrase = resolvePassphrase(
          io.env,
          optionalString(values, 'passphrase-file'),
          paths.passphraseFile,
        );
        const checkpoint = await new AuditCheckpoints(store, systemClock, {
          issuingPem: readFileSync(paths.issuingCertificate, 'utf8'),
          signer: fileSigner(paths.issuingKey, passphrase),
        }).create();
        return {
          json: { ...checkpoint },
          human: `Signed checkpoint at position ${checkpoint.position} (${checkpoint.headHash}):\n${checkpoint.jws}`,
        };
      } finally {
        close();
      }
    },
  },
  {
    path: ['audit', 'checkpoints'],
    summary: 'Export the signed checkpoints (keep a copy outside the CA host)',
    usage: 'audit checkpoints --data-dir D [--out FILE.ndjson]',
    options: { 'data-dir': { type: 'string' }, out: { type: 'string' } },
    async run(values) {
      const { store, paths, close } = openStore(requireString(values, 'data-dir'));
      try {
        const checkpoints = new AuditCheckpoints(store, systemClock, {
          issuingPem: readFileSync(paths.issuingCertificate, 'utf8'),
        }).list(Number.MAX_SAFE_INTEGER);
        const out = optionalString(values, 'out');
        if (out !== undefined)
          writeFileSync(out, checkpoints.map((c) => `${JSON.stringify(c)}\n`).join(''));
        return {
          json: { count: checkpoints.length, ...(out === undefined ? { checkpoints } : { out }) },
          human:
            out !== undefined
              ? `Wrote ${checkpoints.length} checkpoints to ${out}`
              : checkpoints.map((c) => `${c.time}  ${c.position}  ${c.jws}`).join('\n') ||
                'No checkpoints yet.',
        };
      } finally {
        close();
      }
    },
  },
];
