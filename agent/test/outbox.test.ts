import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EventValidator,
  SchemaViolationError,
  UnknownEventTypeError,
  createIdGenerator,
  isId,
  manualClock,
} from '@lantern/shared';
import { OutboxAckOutOfRangeError } from '../src/errors.js';
import { Outbox } from '../src/outbox/outbox.js';
import type { AgentStore } from '../src/store/agent-store.js';
import { TrustedTime } from '../src/time/trusted-time.js';
import { useStores } from './support/open-stores.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const openStore = useStores();
const validator = new EventValidator();
const START = Date.UTC(2026, 10, 23, 10);
const ids = createIdGenerator(manualClock(START));
const DEVICE = ids.next('dev');
const TENANT = ids.next('ten');
const USER = ids.next('usr');

function setup() {
  const path = join(tempDir(), 'agent.db');
  const clock = manualClock(START);
  const open = () => {
    const store = openStore(path, { clock });
    const trustedTime = new TrustedTime(store);
    const outbox = new Outbox(store, {
      identity: { deviceId: DEVICE, tenantId: TENANT },
      trustedTime,
      validator,
    });
    return { store, trustedTime, outbox };
  };
  return { clock, open, ...open() };
}

const loginFailed = (failureCount = 1) => ({
  eventType: 'identity.user.login_failed',
  payload: {
    userId: USER,
    reason: 'invalid_credentials',
    offline: true,
    deviceId: DEVICE,
    failureCount,
  },
});

function count(store: AgentStore, table: string): number {
  return (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

describe('outbox', () => {
  it('builds a full, valid envelope from trusted time and the device identity', () => {
    const { outbox, trustedTime } = setup();
    trustedTime.observeServerTime(START + 60_000);
    const entry = outbox.append(loginFailed());
    expect(entry.seq).toBe(1);
    expect(isId(entry.envelope.eventId, 'evt')).toBe(true);
    expect(entry.envelope).toEqual({
      eventId: entry.envelope.eventId,
      eventType: 'identity.user.login_failed',
      eventVersion: 1,
      occurredAt: new Date(START + 60_000).toISOString(),
      tenantId: TENANT,
      actor: { type: 'device', id: DEVICE },
      correlationId: entry.envelope.eventId,
      partitionKey: DEVICE,
      payload: loginFailed().payload,
    });
    expect(validator.check(entry.envelope)).toEqual({ ok: true });
    expect(outbox.pending(10)).toEqual([entry]);
  });

  it('keeps the actor, correlation, causation and partition the caller gives', () => {
    const { outbox } = setup();
    const { envelope } = outbox.append({
      ...loginFailed(),
      actor: { type: 'user', id: USER },
      correlationId: 'corr-1',
      causationId: 'cause-1',
      partitionKey: USER,
    });
    expect(envelope).toMatchObject({
      actor: { type: 'user', id: USER },
      correlationId: 'corr-1',
      causationId: 'cause-1',
      partitionKey: USER,
    });
  });

  it('numbers events strictly increasing, across reopen and after pruning', () => {
    const { outbox, store, open } = setup();
    const seqs = [1, 2, 3].map((n) => outbox.append(loginFailed(n)).seq);
    expect(seqs).toEqual([1, 2, 3]);
    store.close();

    const reopened = open().outbox;
    expect(reopened.append(loginFailed()).seq).toBe(4);
    reopened.ack(4);
    expect(reopened.prune()).toBe(4);
    expect(reopened.depth()).toBe(0);
    expect(reopened.append(loginFailed()).seq).toBe(5);
    expect(reopened.head()).toEqual({ lastSeq: 5, ackedSeq: 4 });
  });

  it('rejects an invalid payload or an unknown type and writes nothing', () => {
    const { outbox, store } = setup();
    expect(() =>
      outbox.append({ eventType: 'identity.user.login_failed', payload: { reason: 'bad' } }),
    ).toThrow(SchemaViolationError);
    expect(() => outbox.append({ eventType: 'identity.user.danced', payload: {} })).toThrow(
      UnknownEventTypeError,
    );
    expect(count(store, 'outbox')).toBe(0);
    expect(outbox.head()).toEqual({ lastSeq: 0, ackedSeq: 0 });
    expect(outbox.append(loginFailed()).seq).toBe(1);
  });

  it('commits with the caller: a rolled-back transaction leaves neither row nor event', () => {
    const { outbox, store } = setup();
    const createSession = (sessionId: string) => {
      store.db
        .prepare(
          `INSERT INTO sessions (session_id, user_id, offline, created_at, expires_at)
           VALUES (?, ?, 1, ?, ?)`,
        )
        .run(sessionId, USER, START, START + 3_600_000);
      outbox.append({
        eventType: 'identity.session.created',
        payload: {
          sessionId,
          userId: USER,
          offline: true,
          expiresAt: new Date(START + 3_600_000).toISOString(),
        },
      });
    };

    expect(() =>
      store.transaction(() => {
        createSession(ids.next('ses'));
        throw new Error('token minting failed');
      }),
    ).toThrow('token minting failed');
    expect(count(store, 'sessions')).toBe(0);
    expect(count(store, 'outbox')).toBe(0);
    expect(outbox.head().lastSeq).toBe(0);

    store.transaction(() => createSession(ids.next('ses')));
    expect(count(store, 'sessions')).toBe(1);
    expect(outbox.pending(10).map((entry) => entry.seq)).toEqual([1]);
  });

  it('acks idempotently, in order, and refuses sequences never assigned', () => {
    const { outbox, store } = setup();
    for (let n = 1; n <= 5; n++) outbox.append(loginFailed(n));
    expect(outbox.depth()).toBe(5);
    expect(outbox.pending(2).map((entry) => entry.seq)).toEqual([1, 2]);

    expect(outbox.ack(3)).toBe(3);
    expect(outbox.ack(3)).toBe(0);
    expect(outbox.ack(1)).toBe(0);
    expect(outbox.ack(0)).toBe(0);
    expect(outbox.depth()).toBe(2);
    expect(outbox.pending(10).map((entry) => entry.seq)).toEqual([4, 5]);

    expect(() => outbox.ack(6)).toThrow(OutboxAckOutOfRangeError);
    expect(() => outbox.ack(-1)).toThrow(OutboxAckOutOfRangeError);
    expect(outbox.head()).toEqual({ lastSeq: 5, ackedSeq: 3 });
    expect(count(store, 'outbox')).toBe(5);

    expect(outbox.ack(5)).toBe(2);
    expect(outbox.depth()).toBe(0);
    expect(outbox.pending(10)).toEqual([]);
  });
});
