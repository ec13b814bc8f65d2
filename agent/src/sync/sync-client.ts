import type {
  EventValidator,
  ServerTimeClaims,
  SyncRejection,
  SyncRequest,
  UncheckedClaims,
} from '@lantern/shared';
import {
  DEVICE_PROOF_HEADER,
  MAX_SYNC_BATCH,
  REVOCATION_PAGE_TYP,
  SERVER_TIME_TYP,
  createDeviceProof,
  fromPem,
  syncAnswerDigest,
  unverifiedClaims,
  withDeadline,
} from '@lantern/shared';
import type { OpenedAgent } from '../data-dir/open-agent.js';
import type { DeviceRevocationState } from '../enforcement/device-revocation.js';
import { readDeviceRevocation } from '../enforcement/device-revocation.js';
import type { RecordedRevocation } from '../enforcement/enforce-revocations.js';
import { enforceRevocations } from '../enforcement/enforce-revocations.js';
import { shredDeviceKeys } from '../enforcement/shred-device-keys.js';
import { recordCaIdentity, updateBindingPolicy } from '../enrollment/device-binding.js';
import { OutboxAckOutOfRangeError } from '../errors.js';
import { Outbox } from '../outbox/outbox.js';
import type { BackoffPolicy } from './backoff.js';
import { Backoff } from './backoff.js';
import { CaSignedTokenVerifier } from './ca-signed-token-verifier.js';
import { ProofClock } from './proof-clock.js';
import type { SignedJwks } from './signed-jwks.js';
import { storeSignedJwks, verifySignedJwks } from './signed-jwks.js';
import type { RevocationPage } from './revocation-page.js';
import { checkRevocationPage } from './revocation-page.js';
import { advanceRevocationCursor, readSyncCursor, recordSyncTime } from './sync-cursor.js';
import { fenceSealedState } from '../store/state-seal.js';
import type { SyncAnswer } from './sync-response.js';
import { parseSyncAnswer } from './sync-response.js';

export const DEFAULT_SYNC_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_CONSECUTIVE_FAILURES = 5;
const PROBE_TIMEOUT_MS = 5_000;
/** A concurrent round of another process moved the cursor; retried at once, a few times. */
const MAX_CURSOR_RACES = 3;

export type SyncFailureReason =
  /** No HTTP answer: offline, timeout, connection refused. Nothing is known to have happened. */
  | 'unreachable'
  /** The CA answered with an error (`caCode`, `status`). */
  | 'ca_refused'
  /** 200, but not a sync answer. */
  | 'response_invalid'
  /** The signed server time does not verify, or is for another device or request. */
  | 'server_time_invalid'
  /** The answer is not the one the CA signed for this request (a part replayed or swapped). */
  | 'answer_unbound'
  /** The page ends before the feed head the CA signed, yet says there is no more: a stale page. */
  | 'page_stale'
  /** The token keys are not signed by a CA of the pinned root. */
  | 'jwks_unverified'
  /** The revocation page does not verify against the pinned root, or is not a CA's. */
  | 'page_unverified'
  | 'page_wrong_tenant'
  | 'page_wrong_cursor'
  | 'page_malformed'
  /** The CA acked a sequence this agent never assigned (a data dir restored from a backup?). */
  | 'ack_out_of_range'
  /** Another process synced this store meanwhile; the round is redone from the new cursor. */
  | 'cursor_moved';

export interface SyncFailure {
  reason: SyncFailureReason;
  /** Our own words, plus the CA's message on `ca_refused`; never a token or key. */
  detail: string;
  status?: number;
  caCode?: string;
  /** False when retrying cannot help without someone changing something. */
  retryable: boolean;
}

/** One round that was verified and committed. */
export interface RoundResult {
  pushed: number;
  /** The CA's ack: every sequence up to it is stored or refused for good. */
  ack: number;
  /** Outbox events newly marked acked by this round. */
  acked: number;
  accepted: number;
  duplicates: number;
  rejected: SyncRejection<string>[];
  quarantined: number;
  /** Feed entries recorded (0 for an empty page). */
  revocationsApplied: number;
  sessionsEnded: number;
  grantsDropped: number;
  cursor: number;
  /** The feed has more after `cursor`. */
  more: boolean;
  /** Outbox events still waiting after this round. */
  pending: number;
  /** The signed server time (epoch ms) that raised the trusted-time mark. */
  serverTime: number;
  /** This round's page revoked this device. */
  deviceRevoked: boolean;
}

export type RoundVerdict = { ok: true; result: RoundResult } | { ok: false; failure: SyncFailure };

export interface SyncTotals {
  rounds: number;
  pushed: number;
  acked: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  quarantined: number;
  pagesApplied: number;
  revocationsApplied: number;
  sessionsEnded: number;
  grantsDropped: number;
}

export interface SyncProgress extends SyncTotals {
  pending: number;
  cursor: number;
}

export interface SyncRunOutcome extends SyncTotals {
  /** Outbox drained and the feed read to its end (or the device was wiped after handing over). */
  completed: boolean;
  /** Rounds that failed during this run. */
  failures: number;
  /** Why the run stopped short; null when `completed`. */
  lastFailure: SyncFailure | null;
  /** The CA stopped acking pending events (e.g. a gap it cannot fill); retrying will not help. */
  stalled: boolean;
  cursor: number;
  pending: number;
  device: DeviceRevocationState;
}

export interface SyncRunOptions {
  /** Gives up after this many failed rounds in a row (default 5). */
  maxConsecutiveFailures?: number;
  signal?: AbortSignal;
}

export type SyncAgent = Pick<
  OpenedAgent,
  'paths' | 'store' | 'binding' | 'dataKey' | 'deviceKey' | 'trustedTime'
>;

export interface SyncClientOptions {
  agent: SyncAgent;
  /** Share the daemon's outbox; otherwise one is made (with `validator`, compiled if absent). */
  outbox?: Outbox;
  validator?: EventValidator;
  /** Injected for tests (e.g. to lose a response after the CA processed it). */
  fetch?: typeof fetch;
  /** Events per push, at most `MAX_SYNC_BATCH`. */
  batchSize?: number;
  timeoutMs?: number;
  backoff?: Partial<BackoffPolicy>;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  onProgress?: (progress: SyncProgress) => void;
  /**
   * After each commit, the `revocations` rows it wrote: an in-memory index of them (the
   * daemon's verify path) adds these, or it would keep accepting what was just revoked.
   */
  onRevocationsRecorded?: (rows: readonly RecordedRevocation[]) => void;
}

type Exchange = { ok: true; body: unknown; jti: string } | { ok: false; failure: SyncFailure };

interface VerifiedAnswer {
  answer: SyncAnswer;
  /** The token keys the CA signed, when it sent them. */
  jwks: SignedJwks | undefined;
  page: RevocationPage;
  serverTimeMs: number;
  /** From the signed server time: the CA's name for itself and its public URLs, when it says. */
  identity: { issuer?: string; publicUrls?: string[] };
}

const MAX_CA_NAME = 2048;
const isCaName = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_CA_NAME;

/** What the CA signed about itself; a malformed claim is ignored like a CA that says nothing. */
function caIdentityOf(claims: UncheckedClaims<ServerTimeClaims>): VerifiedAnswer['identity'] {
  const { iss, urls } = claims;
  return {
    ...(isCaName(iss) ? { issuer: iss } : {}),
    ...(Array.isArray(urls) && urls.length > 0 && urls.every(isCaName) ? { publicUrls: urls } : {}),
  };
}

class CursorMoved extends Error {}

/**
 * docs/architecture.md §5 delta sync, agent side. One round pushes up to a batch of outbox events with a
 * fresh device proof, verifies everything signed in the answer, then commits in ONE SQLite
 * transaction, each table through the module that owns it, in this order:
 *
 * 1. the ack: outbox events up to it marked acked, refused ones marked with the CA's code;
 * 2. the revocation page: entries recorded, enforcement run, cursor moved to `next`;
 * 3. JWKS (and its etag) when sent, the policy and what the CA signed about itself;
 * 4. the signed server time raises the trusted-time mark; `last_sync_at` is recorded.
 *
 * Crash safety: before the commit nothing local has changed, and what the CA did is idempotent
 * (it de-duplicates by sequence and event id), so a crash, a lost answer or a refused one means
 * the same push again and a duplicate count, never a lost or doubled event (invariant 3). The
 * page is checked against the cursor inside the transaction, so two processes syncing one store
 * cannot apply a page twice or move the cursor back.
 *
 * A page that revokes this device commits together with the ack of the same round (the CA
 * stores the pushed events before it builds the page): sign-in state is wiped at once, but the
 * keys are shredded only when the outbox is empty, since the device key signs the proofs that
 * hand the rest over. Until then sign-in refuses on the recorded revocation.
 */
export class SyncClient {
  private readonly agent: SyncAgent;
  private readonly outbox: Outbox;
  private readonly fetch: typeof fetch;
  private readonly batchSize: number;
  private readonly timeoutMs: number;
  private readonly backoff: Backoff;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly onProgress: ((progress: SyncProgress) => void) | undefined;
  private readonly onRevocationsRecorded:
    ((rows: readonly RecordedRevocation[]) => void) | undefined;
  private readonly verifier: CaSignedTokenVerifier;
  private readonly syncUrl: string;
  private readonly x5c: string[];
  private readonly proofClock: ProofClock;

  constructor(options: SyncClientOptions) {
    this.agent = options.agent;
    const { binding, store, trustedTime } = options.agent;
    this.outbox =
      options.outbox ??
      new Outbox(store, {
        identity: { deviceId: binding.deviceId, tenantId: binding.tenantId },
        trustedTime,
        ...(options.validator === undefined ? {} : { validator: options.validator }),
      });
    this.fetch = options.fetch ?? fetch;
    this.batchSize = options.batchSize ?? MAX_SYNC_BATCH;
    if (!Number.isSafeInteger(this.batchSize) || this.batchSize < 1) {
      throw new RangeError('batchSize must be a positive integer');
    }
    this.batchSize = Math.min(this.batchSize, MAX_SYNC_BATCH);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS;
    this.backoff = new Backoff(options.backoff, options.random);
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.onProgress = options.onProgress;
    this.onRevocationsRecorded = options.onRevocationsRecorded;
    this.verifier = new CaSignedTokenVerifier(binding.rootPem);
    this.syncUrl = `${binding.caUrl}/v1/sync`;
    this.x5c = [binding.certificatePem, ...binding.chainPems].map((pem) =>
      fromPem(pem).toString('base64'),
    );
    this.proofClock = new ProofClock(trustedTime);
  }

  /** Rounds until the outbox is drained and the feed read, with backoff between failures. */
  async run(options: SyncRunOptions = {}): Promise<SyncRunOutcome> {
    const maxFailures = options.maxConsecutiveFailures ?? DEFAULT_MAX_CONSECUTIVE_FAILURES;
    const totals = emptyTotals();
    let failures = 0;
    let inARow = 0;
    let races = 0;
    let lastFailure: SyncFailure | null = null;
    let stalled = false;
    let caughtUp = false;
    // A wipe left pending by a crash after the revocation committed needs no network if the
    // outbox is already empty.
    if (this.wipePending() && this.outbox.depth() === 0) await this.shred();

    while (!this.keysDestroyed() && !options.signal?.aborted) {
      const verdict = await this.round();
      if (!verdict.ok) {
        if (verdict.failure.reason === 'cursor_moved' && races < MAX_CURSOR_RACES) {
          races += 1;
          continue;
        }
        failures += 1;
        inARow += 1;
        lastFailure = verdict.failure;
        if (!verdict.failure.retryable || inARow >= maxFailures) break;
        await this.sleep(this.backoff.delayMs(inARow));
        continue;
      }
      const { result } = verdict;
      inARow = 0;
      races = 0;
      lastFailure = null;
      addRound(totals, result);
      this.onProgress?.({ ...totals, pending: result.pending, cursor: result.cursor });
      caughtUp = result.pending === 0 && !result.more;
      stalled = !result.more && result.pending > 0 && result.acked === 0 && result.pushed > 0;
      if (this.wipePending() && (result.pending === 0 || stalled)) await this.shred();
      if (caughtUp || stalled) break;
    }

    const state = readSyncCursor(this.agent.store);
    return {
      ...totals,
      completed: lastFailure === null && !stalled && (caughtUp || this.keysDestroyed()),
      failures,
      lastFailure,
      stalled,
      cursor: state.revocationCursor,
      pending: this.outbox.depth(),
      device: readDeviceRevocation(this.agent.store) ?? { revoked: false },
    };
  }

  /** One push-and-pull round; never throws for what the network or the CA did. */
  async round(): Promise<RoundVerdict> {
    const { revocationCursor: cursor, jwksEtag } = readSyncCursor(this.agent.store);
    const events = this.outbox.pending(this.batchSize);
    const request: SyncRequest = {
      events: events.map(({ seq, envelope }) => ({ seq, event: envelope })),
      revocationCursor: cursor,
      ...(jwksEtag === null ? {} : { jwksEtag }),
    };
    const body = JSON.stringify(request);
    const exchange = await this.post(body);
    if (!exchange.ok) return exchange;
    const verified = this.verify(exchange.body, exchange.jti, cursor);
    if ('failure' in verified) return { ok: false, failure: verified.failure };
    try {
      const { result, rows } = this.commit(verified, cursor, events.length);
      fenceSealedState(this.agent.store);
      if (rows.length > 0) this.onRevocationsRecorded?.(rows);
      return { ok: true, result };
    } catch (error) {
      if (error instanceof CursorMoved) {
        return failure('cursor_moved', 'another process synced this store meanwhile', true);
      }
      if (error instanceof OutboxAckOutOfRangeError) {
        return failure('ack_out_of_range', error.message, false);
      }
      throw error;
    }
  }

  /** `GET /health/live`: whether the CA answers at all (connectivity came back). */
  async probe(): Promise<boolean> {
    try {
      return await withDeadline(PROBE_TIMEOUT_MS, async (signal) => {
        const response = await this.fetch(`${this.agent.binding.caUrl}/health/live`, {
          redirect: 'error',
          signal,
        });
        await response.body?.cancel();
        return response.ok;
      });
    } catch {
      return false;
    }
  }

  private async post(body: string): Promise<Exchange> {
    for (let attempt = 0; ; attempt += 1) {
      const proof = createDeviceProof({
        method: 'POST',
        url: this.syncUrl,
        body,
        x5c: this.x5c,
        nowSeconds: this.proofClock.nowSeconds(),
        sign: (data) => this.agent.deviceKey.sign(data),
      });
      const jti = String(unverifiedClaims(proof)?.['jti']);
      let status: number;
      let text: string;
      let date: string | null;
      try {
        [status, date, text] = await withDeadline(this.timeoutMs, async (signal) => {
          const response = await this.fetch(this.syncUrl, {
            method: 'POST',
            redirect: 'error',
            signal,
            headers: { 'content-type': 'application/json', [DEVICE_PROOF_HEADER]: proof },
            body,
          });
          return [response.status, response.headers.get('date'), await response.text()] as const;
        });
      } catch (error) {
        return failure('unreachable', `cannot reach ${this.syncUrl}: ${describe(error)}`, true);
      }
      if (status === 200) {
        try {
          return { ok: true, body: JSON.parse(text) as unknown, jti };
        } catch {
          return failure('response_invalid', 'the CA answered 200 with a body that is not JSON');
        }
      }
      const refusal = refusalOf(text);
      if (attempt === 0 && this.proofClock.learn(refusal.code, date)) continue;
      return {
        ok: false,
        failure: {
          reason: 'ca_refused',
          detail: `the CA refused the sync with HTTP ${status}${refusal.code ? ` ${refusal.code}` : ''}${refusal.message ? `: ${refusal.message}` : ''}`,
          status,
          ...(refusal.code ? { caCode: refusal.code } : {}),
          retryable: status >= 500 || status === 429 || refusal.code === 'device_proof_expired',
        },
      };
    }
  }

  /**
   * Everything signed is checked before anything is written. The server time comes first: it is
   * bound to this request by the nonce, so its `iat` is the CA's clock now, and the page and
   * both chains are then checked at that instant rather than at a device clock that may be off.
   */
  private verify(
    body: unknown,
    jti: string,
    cursor: number,
  ): VerifiedAnswer | { failure: SyncFailure } {
    const parsed = parseSyncAnswer(body);
    if (!parsed.ok) return failure('response_invalid', parsed.detail);
    const { answer } = parsed;
    const { deviceId, tenantId } = this.agent.binding;

    const iat = unverifiedClaims(answer.serverTime)?.['iat'];
    if (!Number.isSafeInteger(iat) || (iat as number) < 0) {
      return failure('server_time_invalid', 'the server time has no iat');
    }
    const at = iat as number;
    const timeVerdict = this.verifier.verify(answer.serverTime, SERVER_TIME_TYP, at);
    if (!timeVerdict.ok) {
      return failure('server_time_invalid', `the server time: ${timeVerdict.detail}`);
    }
    const time: UncheckedClaims<ServerTimeClaims> = timeVerdict.claims;
    if (time.typ !== 'time' || time.aud !== deviceId) {
      return failure('server_time_invalid', 'the server time is not for this device');
    }
    if (time.nonce !== jti) {
      return failure('server_time_invalid', 'the server time answers another request');
    }

    const signed = this.verifier.verify(answer.revocations.page, REVOCATION_PAGE_TYP, at);
    if (!signed.ok) return failure('page_unverified', `the revocation page: ${signed.detail}`);
    const page = checkRevocationPage(signed.claims, { tenantId, after: cursor });
    if (!page.ok) return failure(`page_${page.reason}`, page.detail);
    // Each part verifies on its own (pages also travel peer to peer); this binds them together:
    // a signed page or key set from an older answer spliced into this one is refused here.
    if (time.answer !== syncAnswerDigest(body as Record<string, unknown>)) {
      return failure('answer_unbound', 'the answer is not the one the CA signed for this request');
    }
    const { head } = time;
    if (!Number.isSafeInteger(head) || (head as number) < 0) {
      return failure('server_time_invalid', 'the server time names no feed head');
    }
    if (page.page.next > (head as number) || (!page.page.more && page.page.next !== head)) {
      return failure(
        'page_stale',
        `the page ends at ${page.page.next} but the feed head is ${String(head)}`,
      );
    }
    let jwks: SignedJwks | undefined;
    if (answer.jwks !== undefined) {
      const keys = verifySignedJwks(this.verifier, answer.jwks, answer.jwksEtag, at);
      if (!keys.ok) return failure('jwks_unverified', keys.detail);
      if (keys.jwks !== undefined) jwks = keys;
    }

    if (answer.ack > this.outbox.head().lastSeq) {
      return failure(
        'ack_out_of_range',
        `the CA acked sequence ${answer.ack}, beyond the last one assigned here`,
        false,
      );
    }
    return {
      answer,
      jwks,
      page: page.page,
      serverTimeMs: at * 1000,
      identity: caIdentityOf(time),
    };
  }

  private commit(
    verified: VerifiedAnswer,
    cursor: number,
    pushed: number,
  ): { result: RoundResult; rows: RecordedRevocation[] } {
    const { store, trustedTime, binding } = this.agent;
    const { answer, jwks, page, serverTimeMs, identity } = verified;
    return store.transaction(() => {
      if (readSyncCursor(store).revocationCursor !== cursor) throw new CursorMoved();

      const acked = this.outbox.ack(answer.ack);
      this.outbox.recordRejections(answer.rejected);

      const enforced = enforceRevocations(store, page.entries, {
        deviceId: binding.deviceId,
        now: trustedTime.trustedNow(),
      });
      advanceRevocationCursor(store, page.next);

      const withdrawn =
        jwks === undefined
          ? { grantsDropped: 0, sessionsEnded: 0 }
          : storeSignedJwks(store, jwks, 'sync', {
              deviceId: binding.deviceId,
              now: trustedTime.trustedNow(),
            });
      if (answer.policy !== undefined) {
        updateBindingPolicy(store, answer.policy, trustedTime.trustedNow());
      }
      recordCaIdentity(store, identity);

      trustedTime.observeServerTime(serverTimeMs);
      recordSyncTime(store, trustedTime.trustedNow(), serverTimeMs);

      const result: RoundResult = {
        pushed,
        ack: answer.ack,
        acked,
        accepted: answer.accepted,
        duplicates: answer.duplicates,
        rejected: answer.rejected,
        quarantined: answer.quarantined,
        revocationsApplied: enforced.recorded,
        sessionsEnded: enforced.sessionsEnded + withdrawn.sessionsEnded,
        grantsDropped: enforced.grantsDropped + withdrawn.grantsDropped,
        cursor: page.next,
        more: page.more,
        pending: this.outbox.depth(),
        serverTime: serverTimeMs,
        deviceRevoked: enforced.deviceRevoked !== null,
      };
      return { result, rows: enforced.rows };
    });
  }

  private wipePending(): boolean {
    const state = readDeviceRevocation(this.agent.store);
    return state?.revoked === true && state.keysDestroyedAt === null;
  }

  private keysDestroyed(): boolean {
    const state = readDeviceRevocation(this.agent.store);
    return state?.revoked === true && state.keysDestroyedAt !== null;
  }

  private async shred(): Promise<void> {
    const { store, paths, dataKey, deviceKey, trustedTime } = this.agent;
    await shredDeviceKeys({ store, paths, dataKey, deviceKey, now: trustedTime.trustedNow() });
  }
}

function failure(
  reason: SyncFailureReason,
  detail: string,
  retryable = true,
): { ok: false; failure: SyncFailure } {
  return { ok: false, failure: { reason, detail, retryable } };
}

function emptyTotals(): SyncTotals {
  return {
    rounds: 0,
    pushed: 0,
    acked: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    quarantined: 0,
    pagesApplied: 0,
    revocationsApplied: 0,
    sessionsEnded: 0,
    grantsDropped: 0,
  };
}

function addRound(totals: SyncTotals, result: RoundResult): void {
  totals.rounds += 1;
  totals.pushed += result.pushed;
  totals.acked += result.acked;
  totals.accepted += result.accepted;
  totals.duplicates += result.duplicates;
  totals.rejected += result.rejected.length;
  totals.quarantined += result.quarantined;
  totals.pagesApplied += 1;
  totals.revocationsApplied += result.revocationsApplied;
  totals.sessionsEnded += result.sessionsEnded;
  totals.grantsDropped += result.grantsDropped;
}

function refusalOf(text: string): { code?: string; message?: string } {
  try {
    const parsed = JSON.parse(text) as { code?: unknown; message?: unknown };
    return {
      ...(typeof parsed.code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(parsed.code)
        ? { code: parsed.code }
        : {}),
      ...(typeof parsed.message === 'string' ? { message: parsed.message.slice(0, 300) } : {}),
    };
  } catch {
    return {};
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return 'no answer in time';
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  return cause ?? error.message;
}
