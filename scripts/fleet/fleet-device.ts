import type {
  LocalVerifier,
  RenewalOutcome,
  ManualMonotonic,
  OpenedAgent,
  SigninAgent,
  SigninOptions,
  SigninVerdict,
  SyncRunOutcome,
} from '@lantern/agent';
import {
  SyncClient,
  createLocalVerifier,
  createSigninAgent,
  enroll,
  agentPaths,
  manualMonotonic,
  openAgent,
  renewBinding,
  signIn,
  signInOffline,
} from '@lantern/agent';
import type { EventValidator, ManualClock } from '@lantern/shared';
import Database from 'better-sqlite3';
import { manualClock } from '@lantern/shared';

export interface FleetUser {
  index: number;
  userId: string;
  username: string;
  password: string;
  tenantId: string;
  /** Set for users who enrolled TOTP: their authenticator's secret. */
  totpSecret?: Buffer;
}

/** Agents' sign-in options: the verifier's floor cost, and no timeout that a busy host could hit. */
const SIGNIN_OPTIONS: SigninOptions = { kdfCost: { N: 2 ** 14, r: 8, p: 1 }, caTimeoutMs: 120_000 };
const SYNC_TIMEOUT_MS = 120_000;

export type SyncMode = 'normal' | 'lose_response';

/**
 * One simulated learner device: an agent opened from its own data dir (SQLite file, file
 * platform secret, device key) on its own manual clock, which runs at the simulation's true time
 * plus a skew, and its own system uptime, which runs at true time and restarts at each reboot.
 * Connectivity is a flag: sign-ins take the offline path and sync does not run while it is down.
 */
export class FleetDevice {
  readonly clock: ManualClock;
  readonly monotonic: ManualMonotonic;
  skewMs = 0;
  private trueNowMs: number;
  online = true;
  /** Revoked, wiped, and no longer openable: only its files remain to be checked. */
  dead = false;
  private opened: OpenedAgent | null = null;
  private signin: SigninAgent | null = null;
  private localVerifier: LocalVerifier | null = null;

  private constructor(
    readonly index: number,
    readonly tenantId: string,
    readonly deviceId: string,
    readonly dataDir: string,
    readonly users: readonly FleetUser[],
    private readonly validator: EventValidator,
    nowMs: number,
  ) {
    this.clock = manualClock(nowMs);
    this.monotonic = manualMonotonic(0, `device-${index}-boot`);
    this.trueNowMs = nowMs;
  }

  static async enroll(input: {
    index: number;
    caUrl: string;
    token: string;
    rootFingerprint: string;
    dataDir: string;
    users: readonly FleetUser[];
    validator: EventValidator;
    nowMs: number;
  }): Promise<FleetDevice> {
    const clock = manualClock(input.nowMs);
    const outcome = await enroll({
      dataDir: input.dataDir,
      caUrl: input.caUrl,
      token: input.token,
      rootFingerprint: input.rootFingerprint,
      clock,
    });
    const device = new FleetDevice(
      input.index,
      outcome.tenantId,
      outcome.deviceId,
      input.dataDir,
      input.users,
      input.validator,
      input.nowMs,
    );
    await device.open();
    return device;
  }

  get agent(): OpenedAgent {
    if (this.opened === null) throw new Error(`device ${this.index} is not open`);
    return this.opened;
  }

  get verifier(): LocalVerifier | null {
    return this.localVerifier;
  }

  setTrueTime(trueNowMs: number): void {
    this.monotonic.advance(Math.max(0, trueNowMs - this.trueNowMs));
    this.trueNowMs = trueNowMs;
    this.clock.set(trueNowMs + this.skewMs);
  }

  /** Reopens from the data dir; a wiped device cannot be opened again and is marked dead. */
  async open(): Promise<void> {
    try {
      this.opened = await openAgent({
        dataDir: this.dataDir,
        clock: this.clock,
        monotonic: this.monotonic,
      });
    } catch (error) {
      if (this.wipedOnDisk()) {
        this.dead = true;
        return;
      }
      throw error;
    }
    this.signin = createSigninAgent(this.opened, this.validator);
    this.localVerifier = createLocalVerifier(this.opened);
  }

  /**
   * A crash between two steps: every transaction of the agent has committed or rolled back by
   * then, so dropping the process leaves the files exactly as closing the handle does; the
   * handle is closed only so that a long run does not pile up open files.
   */
  async crash(): Promise<void> {
    this.opened?.close();
    this.opened = null;
    this.signin = null;
    this.localVerifier = null;
    await this.open();
  }

  /** A power cycle: a new boot id, uptime from zero, and the agent process started again. */
  async reboot(): Promise<void> {
    this.monotonic.reboot();
    await this.crash();
  }

  async signIn(username: string, password: string, totp?: string): Promise<SigninVerdict> {
    if (this.signin === null) throw new Error(`device ${this.index} is not open`);
    const input = { username, password, ...(totp === undefined ? {} : { totp }) };
    return this.online
      ? signIn(this.signin, input, SIGNIN_OPTIONS)
      : signInOffline(this.signin, input, SIGNIN_OPTIONS);
  }

  /**
   * What `lantern-agent sync` and `serve` do before each sync: renew the binding once it is due
   * (the real agent code path, on its own store handle), then reopen so that sign-in and sync use
   * the new certificate and key. A refusal or an unreachable CA is returned, not thrown: the
   * sync that follows runs on the old certificate, as the agent's does.
   */
  async renewIfDue(): Promise<RenewalOutcome | { renewed: false; error: string }> {
    let outcome: RenewalOutcome;
    try {
      outcome = await renewBinding({
        dataDir: this.dataDir,
        clock: this.clock,
        monotonic: this.monotonic,
        when: 'when_due',
        timeoutMs: SYNC_TIMEOUT_MS,
      });
    } catch (error) {
      return { renewed: false, error: (error as { code?: string }).code ?? String(error) };
    }
    if (outcome.renewed) await this.crash();
    return outcome;
  }

  /**
   * `lantern-agent enroll` on this device's data dir once its binding expired beyond the grace
   * period: the same device is bound again, and its queued events go out with the next sync.
   */
  async reenroll(input: { caUrl: string; token: string; rootFingerprint: string }): Promise<void> {
    this.close();
    try {
      await enroll({ dataDir: this.dataDir, ...input, clock: this.clock });
    } finally {
      await this.open();
    }
  }

  /**
   * A sync run. `lose_response` lets the CA process the first request and then drops its
   * answer, as a connection cut after the CA's commit does.
   */
  async sync(mode: SyncMode, maxConsecutiveFailures = 1): Promise<SyncRunOutcome> {
    let lose = mode === 'lose_response';
    const lossy: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!lose) return response;
      lose = false;
      await response.arrayBuffer();
      throw new TypeError('fetch failed: the connection dropped before the answer arrived');
    };
    const client = new SyncClient({
      agent: this.agent,
      validator: this.validator,
      fetch: lossy,
      timeoutMs: SYNC_TIMEOUT_MS,
      sleep: () => Promise.resolve(),
    });
    return client.run({ maxConsecutiveFailures });
  }

  /** Grant end (epoch ms) of the grant a just-started session was minted under, if any. */
  grantEndOf(sessionId: string): number | null {
    const row = this.agent.store.db
      .prepare<[string], { until: number }>(
        `SELECT g.offline_until AS until FROM sessions s JOIN grants g ON g.grant_id = s.grant_id
         WHERE s.session_id = ?`,
      )
      .get(sessionId);
    return row?.until ?? null;
  }

  close(): void {
    this.opened?.close();
    this.opened = null;
  }

  private wipedOnDisk(): boolean {
    const db = new Database(agentPaths(this.dataDir).database, { readonly: true });
    try {
      const row = db
        .prepare<[], { at: number | null }>('SELECT keys_destroyed_at AS at FROM binding')
        .get();
      return row !== undefined && row.at !== null;
    } finally {
      db.close();
    }
  }
}
