import { randomBytes } from 'node:crypto';
import type { Clock } from '@lantern/shared';
import { sha256, systemClock } from '@lantern/shared';

export const UI_COOKIE = 'lantern_ui';

/** Long enough to open the link `lantern-agent serve` printed; a shell uses its link at once. */
export const DEFAULT_LAUNCH_TTL_MS = 10 * 60_000;
/** Unused links and browser sessions kept at most; the oldest goes first. */
const MAX_LAUNCHES = 16;
const MAX_SESSIONS = 64;

export interface UiSessionOptions {
  clock?: Clock;
  launchTtlMs?: number;
}

/**
 * The sign-in page's credential (issue 15). Any process on the machine can fetch `/`, so the
 * page itself hands out nothing: a browser gets its session cookie only by opening a one-time
 * launch link, whose nonce reaches only who started the agent (`lantern-agent serve` prints it,
 * the desktop shell reads it from the daemon it supervises, or asks for one with the local
 * secret). The cookie is HttpOnly and SameSite=Strict, so script on the page cannot read it and
 * another site's page cannot make the browser send it.
 *
 * Nonces and cookies are kept as SHA-256 digests and looked up by digest: timing can only tell
 * an attacker about a hash of a 256-bit random value, which does not help to guess it.
 */
export class UiSession {
  private readonly clock: Clock;
  private readonly launchTtlMs: number;
  /** Digest of an unused launch nonce → when it expires. */
  private readonly launches = new Map<string, number>();
  private readonly sessions = new Set<string>();

  constructor(options: UiSessionOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.launchTtlMs = options.launchTtlMs ?? DEFAULT_LAUNCH_TTL_MS;
  }

  /** A new one-time nonce for a launch link (`/?launch=…`). */
  issueLaunch(): { nonce: string; expiresAt: number } {
    this.dropExpiredLaunches();
    const nonce = randomBytes(32).toString('base64url');
    const expiresAt = this.clock.now() + this.launchTtlMs;
    this.launches.set(digest(nonce), expiresAt);
    dropOldest(this.launches, MAX_LAUNCHES);
    return { nonce, expiresAt };
  }

  /**
   * Spends a launch nonce: the cookie value of a new page session, or null when the nonce was
   * never issued, is used up or expired.
   */
  redeemLaunch(nonce: string): string | null {
    const key = digest(nonce);
    const expiresAt = this.launches.get(key);
    this.launches.delete(key);
    if (expiresAt === undefined || expiresAt <= this.clock.now()) return null;
    const token = randomBytes(32).toString('base64url');
    this.sessions.add(digest(token));
    dropOldest(this.sessions, MAX_SESSIONS);
    return token;
  }

  /** The `Set-Cookie` value for a redeemed launch; no Max-Age, so it ends with the browser. */
  setCookieHeader(token: string): string {
    return `${UI_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`;
  }

  /** Whether a `Cookie` header carries a live page session of this daemon run. */
  presentedIn(cookieHeader: string | undefined): boolean {
    if (cookieHeader === undefined) return false;
    for (const part of cookieHeader.split(';')) {
      const [name, value] = part.trim().split('=', 2);
      if (name === UI_COOKIE && value !== undefined && this.sessions.has(digest(value))) {
        return true;
      }
    }
    return false;
  }

  private dropExpiredLaunches(): void {
    const now = this.clock.now();
    for (const [key, expiresAt] of this.launches) {
      if (expiresAt <= now) this.launches.delete(key);
    }
  }
}

const digest = (value: string) => Buffer.from(sha256(value)).toString('hex');

/** Maps and sets iterate in insertion order, so the first entries are the oldest. */
function dropOldest(entries: Map<string, unknown> | Set<string>, max: number): void {
  for (const key of entries.keys()) {
    if (entries.size <= max) return;
    entries.delete(key);
  }
}
