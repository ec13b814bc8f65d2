import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { CaContext } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import type { KnownLocation, RiskPolicy, RiskReason } from './risk-policy.js';
import { RISK_REASONS, locate, riskPolicyOf } from './risk-policy.js';
import type { UserRow } from '../users/users.js';

/** Where an online sign-in comes from, as the CA sees it (the TCP peer, or a named balancer's X-Forwarded-For). */
export interface SignInClient {
  ip: string;
}

export type RiskLevel = 'low' | 'medium' | 'high';

export interface RiskAssessment {
  /** 0–100: the weights of the rules that fired, capped. */
  score: number;
  level: RiskLevel;
  reasons: RiskReason[];
  /** The score reached the tenant's threshold: a second factor is asked for. */
  challenge: boolean;
  policy: RiskPolicy;
}

/** A score from here up is `high`; from the tenant's threshold up `medium`. */
export const HIGH_RISK_SCORE = 80;
/** A user's own hours count once this many sign-ins are remembered. */
export const MIN_HOUR_HISTORY = 5;
/** How long sign-ins are remembered for the rules (new device, hours, travel). */
export const HISTORY_DAYS = 90;
/** The longest `ipFailureWindowSeconds` a policy may set: older failures are pruned. */
const MAX_IP_WINDOW_MS = 86_400_000;

interface HistoryRow {
  at: string;
  device_id: string | null;
  lat: number | null;
  lon: number | null;
}

function hourIn(ms: number, timeZone: string): number {
  const text = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    hourCycle: 'h23',
  }).format(ms);
  return Number(text) % 24;
}

/** [from, to) on a 24-hour clock; `from > to` wraps past midnight. */
function withinHours(hour: number, from: number, to: number): boolean {
  return from < to ? hour >= from && hour < to : hour >= from || hour < to;
}

function kilometres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h =
    Math.sin(dLat / 2) ** 2 +
    Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)));
}

/**
 * What identifies one client's address: an IPv4 address (a dual-stack listener's `::ffff:a.b.c.d`
 * is the same one), or an IPv6 /64, which one subscriber holds whole and can rotate through
 * freely. Only compared, so only its hash is kept.
 */
function ipKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  const client = mapped ?? (isIP(ip) === 6 ? ipv6Prefix64(ip) : ip);
  return createHash('sha256').update(`ip\0${client}`).digest('hex');
}

/** The first four groups of an IPv6 address, written out (`2001:db8::1` → `2001:db8:0:0`). */
function ipv6Prefix64(ip: string): string {
  const [head = '', tail = ''] = ip.split('%')[0]!.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = ip.includes('::') && tail !== '' ? tail.split(':') : [];
  const groups = ip.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':');
}

/** The account a failure from an address counts against, without keeping the username. */
function accountKey(tenantId: string, username: string): string {
  return createHash('sha256').update(`${tenantId}\0${username.toLowerCase()}`).digest('hex');
}

/**
 * The rules-based risk of an online password sign-in whose password just matched, per the
 * tenant's policy (mfa/risk-policy.ts); undefined while the tenant has adaptive MFA off. Every
 * rule reads what the CA itself saw: its own clock, the account's failure counter, the TCP peer
 * address, the proven device and the sign-ins it remembers (recordSignIn). Location is only what
 * the tenant's own CIDR table says of that address: no GeoIP database, no client-sent hint.
 */
export async function assessSignInRisk(
  ctx: Pick<CaContext, 'auth' | 'clock' | 'metrics' | 'store'>,
  user: UserRow,
  device: ProvenDevice | undefined,
  client: SignInClient,
): Promise<RiskAssessment | undefined> {
  const { policy } = await riskPolicyOf(ctx.store.db, user.tenant_id);
  if (!policy.enabled) return undefined;
  const now = ctx.clock.now();
  const history = (await ctx.store.db
    .prepare(
      'SELECT at, device_id, lat, lon FROM signin_history WHERE user_id = ? ORDER BY at DESC LIMIT 200',
    )
    .all(user.user_id)) as HistoryRow[];
  const fired = new Set<RiskReason>();

  if (device === undefined || !history.some((row) => row.device_id === device.deviceId)) {
    fired.add('new_device');
  }

  const timeZone = policy.activeHours?.timeZone ?? 'UTC';
  const hour = hourIn(now, timeZone);
  if (policy.activeHours && !withinHours(hour, policy.activeHours.from, policy.activeHours.to)) {
    fired.add('unusual_hour');
  }
  if (history.length >= MIN_HOUR_HISTORY) {
    const near = history.some((row) => {
      const distance = Math.abs(hourIn(Date.parse(row.at), timeZone) - hour);
      return Math.min(distance, 24 - distance) <= 1;
    });
    if (!near) fired.add('unusual_hour');
  }

  const windowOpen =
    user.failure_window_start !== null &&
    now - Date.parse(user.failure_window_start) < ctx.auth.lockout.windowSeconds * 1000;
  if (windowOpen && user.failure_count >= policy.recentFailures) fired.add('recent_failures');

  const { accounts } = (await ctx.store.db
    .prepare(
      'SELECT COUNT(DISTINCT account) AS accounts FROM signin_ip_failures WHERE ip = ? AND at > ?',
    )
    .get(ipKey(client.ip), new Date(now - policy.ipFailureWindowSeconds * 1000).toISOString())) as {
    accounts: number;
  };
  if (accounts >= policy.ipFailureAccounts) fired.add('ip_failures');

  const here = locate(policy, client.ip);
  const last = history.find((row) => row.lat !== null && row.lon !== null);
  if (here && last && last.lat !== null && last.lon !== null) {
    const km = kilometres(here, { lat: last.lat, lon: last.lon });
    const hours = (now - Date.parse(last.at)) / 3_600_000;
    if (km > 0 && (hours <= 0 || km / hours > policy.maxTravelKmh)) fired.add('impossible_travel');
  }

  // A rule weighted 0 is switched off: it is no reason.
  const reasons = RISK_REASONS.filter((reason) => fired.has(reason) && policy.weights[reason] > 0);
  const score = Math.min(
    100,
    reasons.reduce((sum, reason) => sum + policy.weights[reason], 0),
  );
  const challenge = score >= policy.threshold;
  ctx.metrics.riskScores.observe(score);
  return {
    score,
    level: !challenge ? 'low' : score >= HIGH_RISK_SCORE ? 'high' : 'medium',
    reasons,
    challenge,
    policy,
  };
}

/**
 * Remembers a successful online sign-in for the rules (device, time, and the place when the
 * tenant's table knows the address); kept HISTORY_DAYS, erased with the user (risk-policy.ts).
 * The address itself is not kept, only the tenant's name for its network.
 */
export async function recordSignIn(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  user: UserRow,
  device: ProvenDevice | undefined,
  client: SignInClient,
): Promise<void> {
  const now = ctx.clock.now();
  const place: KnownLocation | undefined = locate(
    (await riskPolicyOf(ctx.store.db, user.tenant_id)).policy,
    client.ip,
  );
  await ctx.store.transaction(async () => {
    await ctx.store.db
      .prepare('DELETE FROM signin_history WHERE user_id = ? AND at < ?')
      .run(user.user_id, new Date(now - HISTORY_DAYS * 86_400_000).toISOString());
    await ctx.store.db
      .prepare(
        'INSERT INTO signin_history (user_id, tenant_id, at, device_id, location, lat, lon) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        user.user_id,
        user.tenant_id,
        new Date(now).toISOString(),
        device?.deviceId ?? null,
        place?.name ?? null,
        place?.lat ?? null,
        place?.lon ?? null,
      );
  });
}

/**
 * A password sign-in that failed (wrong password, unknown or locked account) from `client`:
 * the `ip_failures` rule counts the distinct accounts an address failed for, across tenants
 * (one address spraying several schools is the attack). Address and account are kept hashed,
 * and pruned after a day.
 */
export async function recordIpFailure(
  ctx: Pick<CaContext, 'clock' | 'store'>,
  client: SignInClient,
  tenant: string,
  username: string,
): Promise<void> {
  const now = ctx.clock.now();
  await ctx.store.transaction(async () => {
    await ctx.store.db
      .prepare('DELETE FROM signin_ip_failures WHERE at < ?')
      .run(new Date(now - MAX_IP_WINDOW_MS).toISOString());
    await ctx.store.db
      .prepare('INSERT INTO signin_ip_failures (ip, account, at) VALUES (?, ?, ?)')
      .run(ipKey(client.ip), accountKey(tenant, username), new Date(now).toISOString());
  });
}
