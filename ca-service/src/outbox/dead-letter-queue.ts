import type { Clock } from '@lantern/shared';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { headers as newHeaders } from '@nats-io/transport-node';
import type { SqlDatabase } from '../store/sql-database.js';
import { statement } from '../store/statements.js';
import { DLQ_SUBJECT_PREFIX } from './identity-streams.js';

export type DeadLetterSource = 'relay' | 'inbox';

export interface DeadLetter {
  source: DeadLetterSource;
  /** Where the message was (inbox) or was to be (relay) published. */
  subject: string;
  /** Identifies the letter across retries, so the DLQ stream de-duplicates a re-park. */
  letterId: string;
  reason: string;
  attempts: number;
  data: Uint8Array;
  eventId?: string;
  position?: number;
  /** Headers of the original message worth keeping (trace context, store position). */
  headers?: MsgHdrs;
}

export interface DeadLetterRow {
  deadLetterId: number;
  source: DeadLetterSource;
  subject: string;
  eventId: string | null;
  position: number | null;
  reason: string;
  attempts: number;
  parkedAt: string;
}

const KEPT_HEADERS = ['traceparent', 'Lantern-Position'];
const MAX_REASON = 500;

/** Header values are one line of text: a reason quoting a bad payload must not break framing. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, MAX_REASON);
}

/** Letters parked from both sources. */
export async function deadLetterCount(db: SqlDatabase): Promise<number> {
  return ((await statement(db, 'SELECT COUNT(*) AS n FROM dead_letters').get()) as { n: number }).n;
}

/**
 * Parks what cannot go where it should: published to the DLQ stream with the reason in headers
 * and the original bytes as the body (so it can be inspected and re-driven), then recorded in
 * `dead_letters`. Publish first: a letter recorded but never parked would look handled.
 */
export class DeadLetterQueue {
  constructor(
    private readonly db: SqlDatabase,
    private readonly clock: Clock,
  ) {}

  async park(js: JetStreamClient, letter: DeadLetter): Promise<void> {
    const reason = oneLine(letter.reason);
    const h = newHeaders();
    for (const name of KEPT_HEADERS) {
      const value = letter.headers?.get(name);
      if (value) h.set(name, value);
    }
    h.set('Lantern-Dlq-Source', letter.source);
    h.set('Lantern-Dlq-Subject', letter.subject);
    h.set('Lantern-Dlq-Reason', reason);
    h.set('Lantern-Dlq-Attempts', String(letter.attempts));
    if (letter.eventId !== undefined) h.set('Lantern-Event-Id', letter.eventId);
    await js.publish(`${DLQ_SUBJECT_PREFIX}.${letter.source}.${letter.subject}`, letter.data, {
      msgID: `${letter.source}:${letter.letterId}`,
      headers: h,
    });
    await this.db
      .prepare(
        `INSERT INTO dead_letters (source, subject, event_id, position, reason, attempts, parked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        letter.source,
        letter.subject,
        letter.eventId ?? null,
        letter.position ?? null,
        reason,
        letter.attempts,
        new Date(this.clock.now()).toISOString(),
      );
  }

  async count(source: DeadLetterSource): Promise<number> {
    return (
      (await this.db
        .prepare('SELECT COUNT(*) AS n FROM dead_letters WHERE source = ?')
        .get(source)) as {
        n: number;
      }
    ).n;
  }

  /** Newest first; both sources when none is named. */
  async list(source?: DeadLetterSource, limit = 100): Promise<DeadLetterRow[]> {
    const rows = (await this.db
      .prepare(
        `SELECT * FROM dead_letters WHERE ? IS NULL OR source = ?
         ORDER BY dead_letter_id DESC LIMIT ?`,
      )
      .all(source ?? null, source ?? null, limit)) as {
      dead_letter_id: number;
      source: DeadLetterSource;
      subject: string;
      event_id: string | null;
      position: number | null;
      reason: string;
      attempts: number;
      parked_at: string;
    }[];
    return rows.map((row) => ({
      deadLetterId: row.dead_letter_id,
      source: row.source,
      subject: row.subject,
      eventId: row.event_id,
      position: row.position,
      reason: row.reason,
      attempts: row.attempts,
      parkedAt: row.parked_at,
    }));
  }
}
