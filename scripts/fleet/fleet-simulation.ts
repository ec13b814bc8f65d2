import { bindingFacts, renewalSchedule } from '@lantern/agent';
import { EventValidator, base32Decode, hotp, manualClock } from '@lantern/shared';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkFleet } from './fleet-checks.js';
import type { FleetCa } from './fleet-ca.js';
import { startFleetCa } from './fleet-ca.js';
import type { FleetUser } from './fleet-device.js';
import { FleetDevice } from './fleet-device.js';
import type { FleetRevocation, FleetState } from './fleet-state.js';
import { TIME_SLACK_MS } from './fleet-state.js';
import { Prng } from './prng.js';
import type { Violations } from './violations.js';
import { ViolationLog } from './violations.js';

export const FLEET_T0 = Date.UTC(2026, 10, 23, 6, 0, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MAX_OFFLINE_MS = 14 * DAY;
const BAD_PASSWORD = 'wrong horse battery staple';
const TOTP_PERIOD_SECONDS = 30;
/** Invariant-2 violations that a clock set back across a reboot can cause (docs/architecture.md §9, docs/security.md). */
const CROSS_REBOOT_KINDS = new Set([
  'offline_signin_past_grant',
  'offline_signin_past_window',
  'session_outlives_window',
]);

export interface FleetOptions {
  devices: number;
  days: number;
  seed: number;
  /** Simulated minutes per step (default 60). Each device acts once per step. */
  stepMinutes?: number;
  /** Sign-in attempts per device per day (default 3). */
  signinsPerDay?: number;
  /** Sync runs per device per day while it is online (default 4). */
  syncsPerDay?: number;
  /** Parent of the run's temp dir. */
  tmpDir?: string;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** Runs after the final sync, before the checks: tests break things here to see them caught. */
  beforeChecks?: (state: FleetState) => Promise<void> | void;
}

export interface FleetReport {
  seed: number;
  devices: number;
  days: number;
  tenants: number;
  users: number;
  /** Events the agents recorded. */
  generated: number;
  /** Of those, stored at the CA (exactly once). */
  delivered: number;
  /** Re-sent events the CA recognised and did not store again. */
  duplicates: number;
  /** Recorded after the device's keys were shredded: nothing can sign their hand-over. */
  stranded: number;
  violations: Violations;
  /** Invariant-2 breaks of the documented limit: the clock was set back across a reboot, so the
   * agent had no elapsed-time evidence. Reported, not counted as violations. */
  knownLimits: Violations;
  knownLimitExamples: string[];
  signins: {
    attempts: number;
    /** Attempts by users with TOTP, who send a code (a wrong one one time in ten). */
    withTotp: number;
    onlineOk: number;
    offlineOk: number;
    refused: Record<string, number>;
  };
  syncs: { runs: number; completed: number; failed: number; lostResponses: number; rounds: number };
  crashes: number;
  /** Power cycles: a new boot id, so the agent's uptime evidence starts over. */
  reboots: number;
  clockChanges: {
    rollbacks: number;
    /** Of the rollbacks, those made with a power cycle (an RTC reset at boot). */
    rollbacksAcrossReboot: number;
    slowWithinTolerance: number;
    fast: number;
    reset: number;
  };
  revocations: { device: number; user: number; session: number };
  /** Binding certificates renewed by the agents' own renewal, before a sync, once due. */
  renewals: number;
  /** Renewals that did not happen, by code (revoked devices, the CA unreachable mid-run...). */
  renewalFailures: Record<string, number>;
  /** Devices enrolled again on their data dir after their binding expired beyond the grace. */
  reenrollments: number;
  /** `lantern-ca ca rotate-issuing` with a CA restart, mid-run. */
  issuingRotations: number;
  /** Sign-ins refused `binding_expired` on a device, not revoked, that had synced while its
   * binding was due for renewal: the renewal before that sync should have prevented it. Must be 0. */
  bindingExpired: number;
  /** Session tokens of revoked sessions, users or devices verified after the sync that brought
   * the revocation, by the verifier's answer: `expired` ones prove nothing about revocation. */
  revokedTokenChecks: Record<string, number>;
  quarantined: number;
  caEvents: number;
  /** Up to 20 violations in words (device and user numbers, simulated time). */
  examples: string[];
}

export interface IssuedSession {
  device: number;
  userId: string;
  sessionId: string;
  token: string;
  mode: 'online' | 'offline';
}

interface DeviceSchedule {
  rng: Prng;
  /** Reboots draw from their own stream, so they leave every other draw of the device as it was. */
  rebootRng: Prng;
  nextToggleAt: number;
  nextClockChangeAt: number;
  nextRebootAt: number;
  /** Rebooted since the last signed server time: the agent's trusted time has no uptime evidence. */
  rebootedSinceServerTime: boolean;
  /** True time of the last completed sync (or enrollment): the offline window starts there. */
  lastContactMs: number;
  tokens: IssuedSession[];
  /** Offline the whole time, whatever the toggles say. */
  holiday?: { fromMs: number; untilMs: number };
}

/**
 * Issue 11's fleet simulation: one real CA over HTTP and `devices` real agents, each with its
 * own SQLite file, keys and clock, driven through `days` simulated days by a seeded PRNG —
 * connectivity windows, good and bad sign-ins online and offline, admin revocations of devices,
 * users and sessions, clock skew and rollbacks, crashes between steps and responses lost after
 * the CA committed. Invariants 1, 2 and 6 are checked as the run goes; 3 and 6 plus integrity and
 * the hash chain at the end, after a final sync of every device with connectivity up.
 *
 * Everything is sequential, so the same seed yields the same report.
 */
export async function runFleet(options: FleetOptions): Promise<FleetReport> {
  const log = options.log ?? (() => {});
  const stepMs = (options.stepMinutes ?? 60) * MINUTE;
  const stepDays = stepMs / DAY;
  const signinChance = Math.min(1, (options.signinsPerDay ?? 3) * stepDays);
  const syncChance = Math.min(1, (options.syncsPerDay ?? 4) * stepDays);
  const steps = Math.round((options.days * DAY) / stepMs);
  const root = mkdtempSync(join(options.tmpDir ?? tmpdir(), 'lantern-fleet-'));
  const clock = manualClock(FLEET_T0);
  const ca = await startFleetCa(join(root, 'ca'), clock);
  const world = new Prng(options.seed);
  const adminRng = world.fork(1);
  const validator = new EventValidator();
  const violations = new ViolationLog((atMs) => simTime(atMs));
  const knownLimits = new ViolationLog((atMs) => simTime(atMs));
  const report = emptyReport(options);
  let op = 0;

  try {
    // Two tenants, so tenant isolation (invariant 6) has something to leak across.
    const tenantIds = [
      (await ca.admin<{ tenantId: string }>('POST', '/v1/admin/tenants', { name: 'North School' }))
        .tenantId,
      (await ca.admin<{ tenantId: string }>('POST', '/v1/admin/tenants', { name: 'South School' }))
        .tenantId,
    ];
    const usersByTenant = new Map<string, FleetUser[]>();
    const usersPerTenant = Math.max(6, Math.ceil(options.devices * 0.75));
    let userIndex = 0;
    for (const tenantId of tenantIds) {
      const users: FleetUser[] = [];
      for (let i = 0; i < usersPerTenant; i += 1) {
        const username = `learner${userIndex}`;
        const password = `correct horse battery staple ${userIndex}`;
        const { userId } = await ca.admin<{ userId: string }>('POST', '/v1/admin/users', {
          tenant: tenantId,
          username,
          password,
          role: 'learner',
        });
        users.push({ index: userIndex, userId, username, password, tenantId });
        userIndex += 1;
      }
      usersByTenant.set(tenantId, users);
    }
    // North School: learners who enrolled TOTP need a code, online and offline; a third enroll.
    const north = tenantIds[0] as string;
    await ca.admin('PUT', `/v1/admin/tenants/${north}/mfa-policy`, {
      roles: { learner: { required: ['totp'], offline: ['password', 'totp'] } },
    });
    for (const user of usersByTenant.get(north) ?? []) {
      if (user.index % 3 === 0) user.totpSecret = await enrollTotp(ca, user);
    }
    report.users = userIndex;
    log(`fleet: CA at ${ca.url}, ${tenantIds.length} tenants, ${userIndex} users`);

    const devices: FleetDevice[] = [];
    const schedules: DeviceSchedule[] = [];
    for (let index = 0; index < options.devices; index += 1) {
      const tenantId = tenantIds[index % tenantIds.length] as string;
      const rng = world.fork(1000 + index);
      const pool = usersByTenant.get(tenantId) ?? [];
      // A shared tablet: three learners of its school use it.
      const users = [...new Set([rng.pick(pool), rng.pick(pool), rng.pick(pool)])];
      const { token } = await ca.admin<{ token: string }>('POST', '/v1/admin/enrollment-tokens', {
        tenant: tenantId,
        ttlSeconds: 3600,
      });
      devices.push(
        await FleetDevice.enroll({
          index,
          caUrl: ca.url,
          token,
          rootFingerprint: ca.rootFingerprint,
          dataDir: join(root, `agent-${index}`),
          users,
          validator,
          nowMs: FLEET_T0,
        }),
      );
      const rebootRng = world.fork(1_000_000 + index);
      schedules.push({
        rng,
        rebootRng,
        nextToggleAt: FLEET_T0 + rng.exponential(10 * HOUR),
        nextClockChangeAt: FLEET_T0 + rng.exponential(3 * DAY),
        nextRebootAt: FLEET_T0 + rebootRng.exponential(15 * DAY),
        rebootedSinceServerTime: false,
        lastContactMs: FLEET_T0,
        tokens: [],
      });
      // One tablet in 10 spends a long holiday in a cupboard (from day 10, 75 days), longer than
      // its certificate and the renewal grace together: it comes back to a re-enrollment.
      if (index % 10 === 7 && options.days >= 90) {
        const schedule = schedules[index] as DeviceSchedule;
        schedule.holiday = { fromMs: FLEET_T0 + 10 * DAY, untilMs: FLEET_T0 + 85 * DAY };
      }
      if ((index + 1) % 50 === 0) log(`fleet: enrolled ${index + 1}/${options.devices}`);
    }
    log(`fleet: enrolled ${devices.length} devices`);

    const state: FleetState = {
      ca,
      devices,
      usersByTenant,
      revocations: [],
      sessionsById: new Map(),
      offlineSignins: new Map(),
      violations,
    };
    const deviceRevocation = new Map<number, FleetRevocation>();
    const userRevocation = new Map<string, FleetRevocation>();
    const sessionRevocation = new Map<string, FleetRevocation>();
    const onlineSessions: IssuedSession[] = [];
    const scheduledSessionRevocations: { atMs: number; session: IssuedSession }[] = [];
    const allUsers = [...usersByTenant.values()].flat();

    const revoke = (
      kind: FleetRevocation['kind'],
      subjectId: string,
      tenantId: string,
      atMs: number,
    ): FleetRevocation => {
      op += 1;
      const revocation = { kind, subjectId, tenantId, op, atMs, learnedBy: new Set<number>() };
      state.revocations.push(revocation);
      report.revocations[kind] += 1;
      return revocation;
    };

    const adminStep = async (nowMs: number) => {
      // About a tenth of the devices and a twentieth of the users are revoked over the run.
      if (adminRng.chance((0.1 * devices.length) / steps)) {
        const live = devices.filter((device) => !deviceRevocation.has(device.index));
        if (live.length > 0) {
          const device = adminRng.pick(live);
          await ca.admin('POST', `/v1/admin/devices/${device.deviceId}/revoke`, {
            reason: 'lost',
          });
          deviceRevocation.set(
            device.index,
            revoke('device', device.deviceId, device.tenantId, nowMs),
          );
          // The revocation retires every TOTP secret sealed into a grant on that device: those
          // users no longer have the factor, so they stop typing codes from it.
          for (const user of usersByTenant.get(device.tenantId) ?? []) {
            if (user.totpSecret === undefined) continue;
            const mfa = await ca.admin<{ totp: string }>(
              'GET',
              `/v1/admin/users/${user.userId}/mfa`,
            );
            if (mfa.totp !== 'active') delete user.totpSecret;
          }
        }
      }
      if (adminRng.chance((0.05 * allUsers.length) / steps)) {
        const active = allUsers.filter((user) => !userRevocation.has(user.userId));
        if (active.length > 0) {
          const user = adminRng.pick(active);
          await ca.admin('POST', `/v1/admin/users/${user.userId}/suspend`, {
            reason: 'left the school',
          });
          userRevocation.set(user.userId, revoke('user', user.userId, user.tenantId, nowMs));
        }
      }
      scheduledSessionRevocations.sort((a, b) => a.atMs - b.atMs);
      while (scheduledSessionRevocations.length > 0) {
        const next = scheduledSessionRevocations[0];
        if (next === undefined || next.atMs > nowMs) break;
        scheduledSessionRevocations.shift();
        const { session } = next;
        if (sessionRevocation.has(session.sessionId)) continue;
        await ca.admin('POST', `/v1/admin/sessions/${session.sessionId}/revoke`);
        const tenantId = devices[session.device]?.tenantId ?? '';
        sessionRevocation.set(
          session.sessionId,
          revoke('session', session.sessionId, tenantId, nowMs),
        );
      }
    };

    const learnedRevocationOf = (device: FleetDevice, userId: string): string | null => {
      const own = deviceRevocation.get(device.index);
      if (own?.learnedBy.has(device.index)) return 'device';
      const user = userRevocation.get(userId);
      if (user?.learnedBy.has(device.index)) return 'user';
      return null;
    };

    const attemptSignin = async (device: FleetDevice, schedule: DeviceSchedule, nowMs: number) => {
      const { rng } = schedule;
      const user = rng.pick(device.users);
      const good = rng.chance(0.8);
      const goodCode = rng.chance(0.9);
      op += 1;
      report.signins.attempts += 1;
      const code =
        user.totpSecret === undefined ? undefined : totpAt(user.totpSecret, nowMs, goodCode);
      if (code !== undefined) report.signins.withTotp += 1;
      const verdict = await device.signIn(user.username, good ? user.password : BAD_PASSWORD, code);
      if (!verdict.ok) {
        const key = verdict.caCode ? `${verdict.code}:${verdict.caCode}` : verdict.code;
        report.signins.refused[key] = (report.signins.refused[key] ?? 0) + 1;
        if (verdict.code === 'binding_expired') {
          const { binding } = device.agent;
          const due = renewalSchedule(binding.certificatePem, binding.policy).renewableAt;
          // A revoked device is refused renewal on purpose; any other had its chance at that sync.
          if (
            schedule.lastContactMs >= due + TIME_SLACK_MS &&
            !deviceRevocation.has(device.index)
          ) {
            report.bindingExpired += 1;
            violations.add(
              'binding_expired_after_sync_in_renewal_window',
              nowMs,
              `device ${device.index}`,
            );
          }
        }
        return;
      }
      // The device's own clock and trusted time say how far it could tell the time at all.
      const lagMin = Math.round((nowMs - device.agent.trustedTime.trustedNow()) / MINUTE);
      const where = `device ${device.index} user ${user.index} (clock ${Math.round(device.skewMs / MINUTE)} min, trusted time ${lagMin} min behind)`;
      if (verdict.mode === 'online') {
        report.signins.onlineOk += 1;
        schedule.rebootedSinceServerTime = false;
      } else report.signins.offlineOk += 1;
      if (!good) violations.add('signin_with_bad_password', nowMs, where);
      if (code !== undefined && !goodCode) violations.add('signin_with_bad_totp', nowMs, where);

      // Invariant 1: nothing revoked signs anyone in once the device has synced the revocation,
      // and the CA itself never accepts a revoked device or user.
      const learned = learnedRevocationOf(device, verdict.userId);
      if (learned !== null) {
        violations.add(`signin_after_${learned}_revocation`, nowMs, `${where} (${verdict.mode})`);
      }
      if (
        verdict.mode === 'online' &&
        (deviceRevocation.has(device.index) || userRevocation.has(verdict.userId))
      ) {
        violations.add('online_signin_after_revocation', nowMs, where);
      }

      // Invariant 2: the session ends no later than its grant and binding, and offline, it is
      // inside the grant and the offline window at true time.
      const grantEnd = device.grantEndOf(verdict.sessionId);
      const facts = bindingEnd(device);
      if (grantEnd !== null && verdict.expiresAt > grantEnd) {
        violations.add('session_outlives_grant', nowMs, where);
      }
      if (verdict.expiresAt > facts) violations.add('session_outlives_binding', nowMs, where);
      if (verdict.mode === 'offline') {
        const windowEnd = schedule.lastContactMs + MAX_OFFLINE_MS;
        const timeBreak = (kind: string) => {
          if (CROSS_REBOOT_KINDS.has(kind) && schedule.rebootedSinceServerTime) {
            knownLimits.add(`${kind}_across_reboot`, nowMs, where);
          } else violations.add(kind, nowMs, where);
        };
        if (grantEnd === null) violations.add('offline_signin_without_grant', nowMs, where);
        else if (nowMs >= grantEnd + TIME_SLACK_MS) timeBreak('offline_signin_past_grant');
        if (nowMs >= windowEnd + TIME_SLACK_MS) timeBreak('offline_signin_past_window');
        if (verdict.expiresAt > windowEnd + TIME_SLACK_MS) timeBreak('session_outlives_window');
        state.offlineSignins.set(verdict.sessionId, { device: device.index, atMs: nowMs });
      }
      const issued: IssuedSession = {
        device: device.index,
        userId: verdict.userId,
        sessionId: verdict.sessionId,
        token: verdict.token,
        mode: verdict.mode,
      };
      schedule.tokens.push(issued);
      state.sessionsById.set(verdict.sessionId, {
        tenantId: device.tenantId,
        device: device.index,
      });
      if (verdict.mode === 'online') {
        onlineSessions.push(issued);
        if (adminRng.chance(0.15)) {
          scheduledSessionRevocations.push({
            atMs: nowMs + adminRng.exponential(3 * HOUR),
            session: issued,
          });
        }
      }
    };

    /** After a completed sync: what it learned, and whether every revoked session stopped verifying. */
    const afterCompletedSync = (
      device: FleetDevice,
      schedule: DeviceSchedule,
      startOp: number,
      nowMs: number,
    ) => {
      schedule.lastContactMs = nowMs;
      schedule.rebootedSinceServerTime = false;
      for (const revocation of state.revocations) {
        if (revocation.op < startOp && revocation.tenantId === device.tenantId) {
          revocation.learnedBy.add(device.index);
        }
      }
      const verifier = device.verifier;
      if (verifier === null || device.dead) return;
      const keep: IssuedSession[] = [];
      for (const issued of schedule.tokens) {
        const revoked =
          deviceRevocation.get(device.index) ??
          userRevocation.get(issued.userId) ??
          sessionRevocation.get(issued.sessionId);
        if (revoked === undefined || revoked.op > startOp) {
          keep.push(issued);
          continue;
        }
        // Invariant 1 for sessions: a session token of something revoked stops verifying here.
        const verdict = verifier.verify(issued.token);
        const answer = verdict.ok ? 'accepted' : verdict.reason;
        report.revokedTokenChecks[answer] = (report.revokedTokenChecks[answer] ?? 0) + 1;
        if (verdict.ok) {
          violations.add(
            `session_alive_after_${revoked.kind}_revocation`,
            nowMs,
            `device ${device.index} session ${issued.mode}`,
          );
        }
      }
      schedule.tokens = keep.slice(-20);
    };

    const runSync = async (
      device: FleetDevice,
      schedule: DeviceSchedule,
      nowMs: number,
      lose: boolean,
      maxFailures = 1,
    ) => {
      op += 1;
      const startOp = op;
      report.syncs.runs += 1;
      if (lose) report.syncs.lostResponses += 1;
      const renewal = await device.renewIfDue();
      if (renewal.renewed) report.renewals += 1;
      else if ('error' in renewal) {
        report.renewalFailures[renewal.error] = (report.renewalFailures[renewal.error] ?? 0) + 1;
        if (renewal.error === 'binding_expired') {
          // Back after more than the grace period: the school's admin re-enrolls the tablet.
          const { token } = await ca.admin<{ token: string }>(
            'POST',
            '/v1/admin/enrollment-tokens',
            { tenant: device.tenantId, ttlSeconds: 3600 },
          );
          try {
            await device.reenroll({ caUrl: ca.url, token, rootFingerprint: ca.rootFingerprint });
            report.reenrollments += 1;
          } catch (error) {
            // A tablet revoked while away stays revoked: the CA refuses to bind it again.
            const code = `reenroll:${(error as { code?: string }).code ?? 'error'}`;
            report.renewalFailures[code] = (report.renewalFailures[code] ?? 0) + 1;
          }
        }
      }
      if (device.dead) return null;
      const outcome = await device.sync(lose ? 'lose_response' : 'normal', maxFailures);
      report.syncs.rounds += outcome.rounds;
      report.duplicates += outcome.duplicates;
      if (outcome.completed && !device.dead && !outcome.device.revoked) {
        // As the daemon does: the sync's server time may have put trusted time in the window.
        const after = await device.renewIfDue();
        if (after.renewed) report.renewals += 1;
      }
      if (outcome.completed) {
        report.syncs.completed += 1;
        afterCompletedSync(device, schedule, startOp, nowMs);
      } else {
        report.syncs.failed += 1;
      }
      return outcome;
    };

    const deviceStep = async (device: FleetDevice, schedule: DeviceSchedule, nowMs: number) => {
      const { rng } = schedule;
      if (nowMs >= schedule.nextToggleAt) {
        device.online = !device.online;
        schedule.nextToggleAt =
          nowMs +
          (device.online
            ? rng.exponential(10 * HOUR)
            : rng.chance(0.05)
              ? rng.int(3, 16) * DAY
              : rng.exponential(20 * HOUR));
      }
      if (nowMs >= schedule.nextClockChangeAt) {
        schedule.nextClockChangeAt = nowMs + rng.exponential(3 * DAY);
        const roll = rng.next();
        if (roll < 0.4) {
          device.skewMs = 0;
          report.clockChanges.reset += 1;
        } else if (roll < 0.65) {
          device.skewMs = -rng.int(10, 240) * 1000;
          report.clockChanges.slowWithinTolerance += 1;
        } else if (roll < 0.8) {
          device.skewMs = -rng.int(1, 72) * HOUR;
          report.clockChanges.rollbacks += 1;
          // A third are an RTC reset at power-on: a rollback across a reboot.
          if (schedule.rebootRng.chance(1 / 3)) {
            report.clockChanges.rollbacksAcrossReboot += 1;
            schedule.nextRebootAt = nowMs;
          }
        } else if (roll < 0.95) {
          device.skewMs = rng.int(1, 20) * 1000;
          report.clockChanges.fast += 1;
        } else {
          device.skewMs = rng.int(2, 10) * MINUTE;
          report.clockChanges.fast += 1;
        }
      }
      const { holiday } = schedule;
      if (holiday !== undefined && nowMs >= holiday.fromMs && nowMs < holiday.untilMs) {
        device.online = false;
        schedule.nextToggleAt = Math.max(schedule.nextToggleAt, holiday.untilMs);
      }
      device.setTrueTime(nowMs);
      if (nowMs >= schedule.nextRebootAt) {
        schedule.nextRebootAt = nowMs + schedule.rebootRng.exponential(15 * DAY);
        schedule.rebootedSinceServerTime = true;
        report.reboots += 1;
        await device.reboot();
        if (device.dead) return;
      }
      if (rng.chance(0.3 * stepDays)) {
        report.crashes += 1;
        await device.crash();
      }
      if (device.dead) return;
      if (rng.chance(signinChance)) await attemptSignin(device, schedule, nowMs);
      if (device.online && rng.chance(syncChance)) {
        await runSync(device, schedule, nowMs, rng.chance(0.05));
      }
    };

    const slice = Math.floor(stepMs / devices.length);
    // Halfway: a new issuing CA under the same root (docs/architecture.md §2 Lifetimes), with a restart.
    const rotationStep = Math.floor(steps / 2);
    for (let step = 0; step < steps; step += 1) {
      const stepStart = FLEET_T0 + step * stepMs;
      clock.set(stepStart);
      if (step === rotationStep && steps > 1) {
        await ca.rotateIssuing();
        report.issuingRotations += 1;
        log(`fleet: issuing CA rotated on ${simTime(stepStart)}`);
      }
      await adminStep(stepStart);
      for (const device of devices) {
        const nowMs = stepStart + device.index * slice;
        clock.set(nowMs);
        const schedule = schedules[device.index];
        if (schedule) await deviceStep(device, schedule, nowMs);
      }
      if ((step + 1) % Math.round(DAY / stepMs) === 0) {
        log(
          `fleet: day ${Math.round(((step + 1) * stepMs) / DAY)}/${options.days}: ` +
            `${report.signins.attempts} sign-ins, ${report.syncs.runs} syncs, ` +
            `${report.crashes} crashes, ${violations.total()} violations`,
        );
      }
    }

    // The end: every device comes online and syncs until its outbox is empty and its feed read.
    const endMs = FLEET_T0 + steps * stepMs - 1000;
    clock.set(endMs);
    for (const device of devices) {
      const schedule = schedules[device.index];
      if (device.dead || schedule === undefined) continue;
      device.online = true;
      device.setTrueTime(endMs);
      const outcome = await runSync(device, schedule, endMs, false, 5);
      if (outcome !== null && !outcome.completed) {
        violations.add(
          'final_sync_incomplete',
          endMs,
          `device ${device.index}: ${outcome.lastFailure?.reason ?? 'stalled'} ${outcome.lastFailure?.caCode ?? ''}`,
        );
      }
    }
    for (const device of devices) device.close();
    log('fleet: final sync done; checking invariants');

    await options.beforeChecks?.(state);
    const totals = await checkFleet(state);
    report.generated = totals.generated;
    report.delivered = totals.delivered;
    report.stranded = totals.stranded;
    report.quarantined = totals.quarantined;
    report.caEvents = totals.caEvents;
    report.violations = violations.counts();
    report.examples = violations.examples();
    report.knownLimits = knownLimits.counts();
    report.knownLimitExamples = knownLimits.examples();
    return report;
  } finally {
    await ca.close();
    rmSync(root, { recursive: true, force: true });
  }
}

/** A user enrols TOTP the self-service way: password sign-in, enrol, confirm with a code. */
async function enrollTotp(ca: FleetCa, user: FleetUser): Promise<Buffer> {
  const post = async <T>(path: string, body: unknown, token?: string): Promise<T> => {
    const response = await fetch(`${ca.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  const { accessToken } = await post<{ accessToken: string }>('/v1/auth/login', {
    tenant: user.tenantId,
    username: user.username,
    password: user.password,
  });
  const enrollment = await post<{ secret: string }>('/v1/mfa/totp/enroll', {}, accessToken);
  const secret = base32Decode(enrollment.secret);
  await post('/v1/mfa/totp/confirm', { code: totpAt(secret, ca.clock.now(), true) }, accessToken);
  return secret;
}

/** The code an authenticator on a correct clock shows at `atMs`, or a wrong one. */
function totpAt(secret: Buffer, atMs: number, good: boolean): string {
  const code = hotp(secret, Math.floor(atMs / 1000 / TOTP_PERIOD_SECONDS), 6);
  return good ? code : String((Number(code) + 1) % 1_000_000).padStart(6, '0');
}

function bindingEnd(device: FleetDevice): number {
  return bindingFacts(device.agent.binding).validUntilMs;
}

function simTime(atMs: number): string {
  const day = Math.floor((atMs - FLEET_T0) / DAY) + 1;
  return `day ${day} ${new Date(atMs).toISOString().slice(11, 16)}`;
}

function emptyReport(options: FleetOptions): FleetReport {
  return {
    seed: options.seed,
    devices: options.devices,
    days: options.days,
    tenants: 2,
    users: 0,
    generated: 0,
    delivered: 0,
    duplicates: 0,
    stranded: 0,
    violations: {},
    knownLimits: {},
    knownLimitExamples: [],
    signins: { attempts: 0, withTotp: 0, onlineOk: 0, offlineOk: 0, refused: {} },
    syncs: { runs: 0, completed: 0, failed: 0, lostResponses: 0, rounds: 0 },
    crashes: 0,
    reboots: 0,
    clockChanges: {
      rollbacks: 0,
      rollbacksAcrossReboot: 0,
      slowWithinTolerance: 0,
      fast: 0,
      reset: 0,
    },
    revocations: { device: 0, user: 0, session: 0 },
    renewals: 0,
    renewalFailures: {},
    reenrollments: 0,
    issuingRotations: 0,
    bindingExpired: 0,
    revokedTokenChecks: {},
    quarantined: 0,
    caEvents: 0,
    examples: [],
  };
}
