import { ForbiddenError, UnauthorizedError } from '@lantern/shared';
import type { Actor } from '@lantern/shared';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { apiKeyStanding } from '../api-keys/api-key-queries.js';
import type { ApiKeyPrincipal } from '../api-keys/api-keys.js';
import { sessionStatus } from '../auth/session-queries.js';
import type { CaContext } from '../context/ca-context.js';
import { SYSTEM_TENANT_ID, isoNow } from '../context/ca-context.js';
import { memberScopes } from '../members/memberships.js';
import { findUserById } from '../users/users.js';

export const CONSOLE_COOKIE = 'lantern_console';
export const CSRF_HEADER = 'x-lantern-csrf';
/** Idle timeout: a console left open on a shared staff-room PC ends on its own. */
export const CONSOLE_IDLE_MS = 15 * 60_000;
/** However busy, a console session is signed in again after a working day. */
export const CONSOLE_MAX_MS = 10 * 3_600_000;

/** Who signed in: the installation admin (by API key) or a tenant admin (by password + MFA). */
export type ConsoleIdentity =
  | { kind: 'api_key'; keyId: string }
  | {
      kind: 'user';
      userId: string;
      tenantId: string;
      username: string;
      sessionId: string;
      refreshToken: string;
    };

interface ConsoleSession {
  id: string;
  csrfToken: string;
  identity: ConsoleIdentity;
  createdAt: number;
  lastSeenAt: number;
}

export interface ConsoleSessionView {
  csrfToken: string;
  kind: ConsoleIdentity['kind'];
  tenantId: string | null;
  username: string | null;
  idleTimeoutSeconds: number;
  /** What an enrollment QR code carries besides the token (the agent pins this root). */
  caUrl: string;
  rootFingerprint: string;
}

/**
 * Server-side console sessions: the cookie carries only a random id, so signing out or an idle
 * timeout ends the session here, whatever the browser keeps. Held in memory: a restart signs
 * every admin out, which is the safe direction. Each request re-checks what the session stands
 * for (the API key not revoked, the user still active with an admin role or membership grants, the
 * CA session not revoked), so
 * revoking the key or ending the user's sessions ends the console session too.
 */
export class ConsoleSessions {
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(private readonly ctx: Pick<CaContext, 'ca' | 'clock' | 'publicUrl' | 'store'>) {}

  create(identity: ConsoleIdentity): { id: string; view: ConsoleSessionView } {
    this.sweep();
    const now = this.ctx.clock.now();
    const session: ConsoleSession = {
      id: randomBytes(32).toString('base64url'),
      csrfToken: randomBytes(32).toString('base64url'),
      identity,
      createdAt: now,
      lastSeenAt: now,
    };
    this.sessions.set(session.id, session);
    return { id: session.id, view: this.viewOf(session) };
  }

  /** The live session of a cookie value, its idle clock restarted; undefined when there is none. */
  async touch(
    id: string | undefined,
  ): Promise<{ session: ConsoleSession; principal: ApiKeyPrincipal }> {
    const session = id === undefined ? undefined : this.sessions.get(id);
    if (!session) throw new UnauthorizedError('sign in to the console (no console session)');
    const now = this.ctx.clock.now();
    if (now - session.lastSeenAt > CONSOLE_IDLE_MS || now - session.createdAt > CONSOLE_MAX_MS) {
      this.sessions.delete(session.id);
      throw new UnauthorizedError('the console session timed out: sign in again');
    }
    let principal: ApiKeyPrincipal;
    try {
      principal = await this.principalOf(session.identity);
    } catch (error) {
      this.sessions.delete(session.id);
      throw error;
    }
    session.lastSeenAt = now;
    return { session, principal };
  }

  async view(id: string | undefined): Promise<ConsoleSessionView> {
    return this.viewOf((await this.touch(id)).session);
  }

  /** Ends the session; returns what it was, so the caller can end the CA session behind it. */
  end(id: string | undefined): ConsoleIdentity | undefined {
    const session = id === undefined ? undefined : this.sessions.get(id);
    if (!session) return undefined;
    this.sessions.delete(session.id);
    return session.identity;
  }

  checkCsrf(session: ConsoleSession, presented: string | undefined): void {
    const expected = Buffer.from(session.csrfToken);
    const actual = Buffer.from(presented ?? '');
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
      throw new ForbiddenError(
        `a console change needs the session's CSRF token in the ${CSRF_HEADER} header`,
      );
    }
  }

  private viewOf(session: ConsoleSession): ConsoleSessionView {
    const identity = session.identity;
    return {
      csrfToken: session.csrfToken,
      kind: identity.kind,
      tenantId: identity.kind === 'user' ? identity.tenantId : null,
      username: identity.kind === 'user' ? identity.username : null,
      idleTimeoutSeconds: CONSOLE_IDLE_MS / 1000,
      caUrl: this.ctx.publicUrl,
      rootFingerprint: this.ctx.ca.rootFingerprint,
    };
  }

  private async principalOf(identity: ConsoleIdentity): Promise<ApiKeyPrincipal> {
    const db = this.ctx.store.db;
    if (identity.kind === 'api_key') {
      const row = await apiKeyStanding(db, identity.keyId);
      if (!row || row.revoked_at !== null)
        throw new UnauthorizedError('the API key of this console session was revoked');
      if (row.expires_at !== null && row.expires_at <= isoNow(this.ctx.clock))
        throw new UnauthorizedError('the API key of this console session has expired');
      return {
        keyId: identity.keyId,
        tenantId: row.tenant_id === SYSTEM_TENANT_ID ? null : row.tenant_id,
        scopes: JSON.parse(row.scopes) as string[],
      };
    }
    const user = await findUserById(db, identity.userId);
    const status = await sessionStatus(db, identity.sessionId);
    const locked = user?.locked_until != null && user.locked_until > isoNow(this.ctx.clock);
    if (!user || user.status !== 'active' || locked)
      throw new UnauthorizedError('this account may no longer use the console');
    if (status !== 'active')
      throw new UnauthorizedError('this console session was ended by an admin: sign in again');
    const actor: Actor = { type: 'user', id: identity.userId };
    // Read on every request: a suspended membership or a changed role counts at once.
    const scopes = await consoleScopes(db, identity.userId, identity.tenantId, user.role);
    return { keyId: identity.sessionId, tenantId: identity.tenantId, scopes, actor };
  }

  private sweep(): void {
    const now = this.ctx.clock.now();
    for (const [id, session] of this.sessions) {
      if (now - session.lastSeenAt > CONSOLE_IDLE_MS || now - session.createdAt > CONSOLE_MAX_MS)
        this.sessions.delete(id);
    }
  }
}

/**
 * What a console user may do on their tenant: everything for a tenant admin (user role
 * `admin`), else what their membership roles and permissions in the tenant's scope grant.
 */
export async function consoleScopes(
  db: CaContext['store']['db'],
  userId: string,
  tenantId: string,
  role: string,
): Promise<string[]> {
  return role === 'admin' ? ['admin'] : await memberScopes(db, userId, tenantId);
}

const registry = new WeakMap<object, ConsoleSessions>();

/** The console sessions of one CA (one per context, shared by every route that authenticates). */
export function consoleSessionsOf(
  ctx: Pick<CaContext, 'ca' | 'clock' | 'publicUrl' | 'store'>,
): ConsoleSessions {
  let sessions = registry.get(ctx);
  if (!sessions) {
    sessions = new ConsoleSessions(ctx);
    registry.set(ctx, sessions);
  }
  return sessions;
}
