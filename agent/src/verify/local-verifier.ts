import type { JwtKeySet, JwtVerifier, VerifiedJwtClaims } from '@lantern/shared';
import {
  OID_EKU_LANTERN_DEVICE_BINDING,
  X5cJwtVerifier,
  createJwtVerifier,
  deviceUri,
  isId,
  parseDeviceUri,
} from '@lantern/shared';
import { readDeviceBinding } from '../enrollment/device-binding.js';
import {
  SESSION_TOKEN_AUDIENCE,
  SESSION_TOKEN_TYPE,
} from '../session-token/session-token-claims.js';
import type { AgentStore } from '../store/agent-store.js';
import type { TrustedTime } from '../time/trusted-time.js';
import { JwksCache } from './jwks-cache.js';
import { RevocationState } from './revocation-state.js';
import type { TokenRejection } from './token-rejections.js';
import { rejectionOfJwt } from './token-rejections.js';

export type LocalTokenKind = 'session' | 'access';

export type LocalTokenVerdict =
  | { ok: true; kind: LocalTokenKind; claims: VerifiedJwtClaims }
  | { ok: false; reason: TokenRejection; detail?: string };

export interface LocalVerifier {
  /** Offline session tokens minted by this device (`lantern-session+jwt`). */
  verifySessionToken(token: unknown): LocalTokenVerdict;
  /** The CA's access tokens (`at+jwt`), with the JWKS cached on this device. */
  verifyAccessToken(token: unknown): LocalTokenVerdict;
  /** Either kind, told apart by the header's `typ`. */
  verify(token: unknown): LocalTokenVerdict;
}

export interface LocalVerifierOptions {
  store: AgentStore;
  trustedTime: TrustedTime;
}

const ACCESS_TOKEN_TYPE = 'at+jwt';
const ACCESS_TOKEN_AUDIENCE = 'lantern';
/**
 * How often verification writes the trusted-time mark. A process started after the clock was
 * set back can see a token as valid for at most this long past its `exp`.
 */
export const VERIFIER_MARK_INTERVAL_MS = 60_000;

interface PinnedDevice {
  deviceId: string;
  tenantId: string;
  sessions: X5cJwtVerifier;
}

const reject = (reason: TokenRejection, detail?: string): LocalTokenVerdict =>
  detail === undefined ? { ok: false, reason } : { ok: false, reason, detail };

/**
 * The verifier local apps use (docs/architecture.md §4): session tokens against the pinned root with the
 * binding EKU, CA access tokens against the cached JWKS, both at trusted time and against the
 * cached revocation state, so a revoked device, user, grant or session stops verifying as soon
 * as a sync brings the revocation (invariant 1).
 *
 * Only this device's own session tokens are accepted, not those of other devices of the
 * tenant: the verifier checks revocations and sessions in this device's store, which knows
 * nothing of another device's sessions, so accepting those would vouch for what it cannot see.
 *
 * Steady-state cost: one ECDSA verification (the x5c chain is validated once and cached, the
 * JWKS imported once per change) plus three indexed SQLite reads (trusted time, revocations,
 * the session row), and one small write a minute for the trusted-time mark.
 */
export function createLocalVerifier(options: LocalVerifierOptions): LocalVerifier {
  const { store, trustedTime } = options;
  const revocations = new RevocationState(store);
  const jwks = new JwksCache(store);
  const sessionRow = store.db.prepare<[string], { endedAt: number | null }>(
    'SELECT ended_at AS endedAt FROM sessions WHERE session_id = ?',
  );
  // Enforcement marks the binding too, and that mark outlives any pruning of the feed.
  const bindingRevoked = store.db
    .prepare<[], number>('SELECT revoked_at IS NOT NULL FROM binding WHERE id = 1')
    .pluck();
  let pinned: PinnedDevice | null = null;
  // Read per access token: a sync may teach the CA's new name while this process runs.
  const bindingIssuer = store.db
    .prepare<[], string>('SELECT COALESCE(issuer, ca_url) FROM binding WHERE id = 1')
    .pluck();
  let access: { keys: JwtKeySet; issuer: string; verifier: JwtVerifier } | null = null;

  // The root and the device identity never change once enrolled; before that, look each time.
  const device = (): PinnedDevice | null => {
    if (pinned !== null) return pinned;
    const binding = readDeviceBinding(store);
    if (binding === null) return null;
    pinned = {
      deviceId: binding.deviceId,
      tenantId: binding.tenantId,
      sessions: new X5cJwtVerifier({
        trustAnchors: [binding.rootPem],
        typ: SESSION_TOKEN_TYPE,
        requiredEku: [OID_EKU_LANTERN_DEVICE_BINDING],
        audience: SESSION_TOKEN_AUDIENCE,
        requiredClaims: ['iss', 'sub', 'sid', 'grt', 'grt_iat', 'tenant', 'iat'],
        // Minted and checked against the same trusted time: no skew to allow for, and no
        // session may outlive its grant by even a second (invariant 2).
        clockToleranceSeconds: 0,
      }),
    };
    return pinned;
  };
  // Verifying is also an observation of time: without it, a token seen expired would verify
  // again once the clock is set back, as long as no sign-in had raised the mark past its exp.
  // The mark is persisted at most once per interval (it is a write); in between, a high-water
  // mark in memory keeps this process from going back in time.
  let highWater = 0;
  let persistedAtWall = Number.NEGATIVE_INFINITY;
  const nowSeconds = (): number => {
    const wall = store.clock.now();
    let now: number;
    if (Math.abs(wall - persistedAtWall) >= VERIFIER_MARK_INTERVAL_MS) {
      persistedAtWall = wall;
      now = trustedTime.observeWallClock().trustedNow;
    } else {
      now = trustedTime.trustedNow();
    }
    highWater = Math.max(highWater, now);
    return Math.floor(highWater / 1000);
  };
  const ended = (sessionId: string): boolean => {
    const row = sessionRow.get(sessionId);
    return row !== undefined && row.endedAt !== null;
  };

  function verifySessionToken(token: unknown): LocalTokenVerdict {
    const self = device();
    if (self === null) return reject('not_enrolled');
    const verdict = self.sessions.verify(token, nowSeconds());
    if (!verdict.ok) return reject(rejectionOfJwt(verdict.reason), verdict.detail);
    const signer = verdict.path[0]?.subjectAltNameUris
      .map(parseDeviceUri)
      .find((identity) => identity !== null);
    if (!signer) return reject('untrusted_chain', 'the signing certificate names no device');
    if (signer.tenantId !== self.tenantId) return reject('wrong_tenant');
    if (signer.deviceId !== self.deviceId) return reject('wrong_device');
    const { claims } = verdict;
    if (claims.iss !== deviceUri(signer.tenantId, signer.deviceId)) return reject('wrong_issuer');
    if (claims['tenant'] !== self.tenantId) return reject('wrong_tenant');
    const { sub, sid, grt, grt_iat: grantIssuedAt } = claims;
    if (
      !isId(sub, 'usr') ||
      !isId(sid, 'ses') ||
      !isId(grt, 'grt') ||
      typeof grantIssuedAt !== 'number'
    ) {
      return reject('malformed', 'sub, sid, grt or grt_iat');
    }
    const hits = revocations.find({
      device: self.deviceId,
      certificate: verdict.path[0]?.serialNumber,
      user: sub,
      grant: grt,
      session: sid,
    });
    if (hits.device !== undefined || hits.certificate !== undefined || bindingRevoked.get()) {
      return reject('device_revoked');
    }
    // A user revoked at R takes every grant issued up to R with it, and so every session
    // minted under one, even a session minted after R by a device that had not synced yet.
    if (hits.user !== undefined && hits.user >= grantIssuedAt * 1000) return reject('user_revoked');
    if (hits.grant !== undefined) return reject('grant_revoked');
    if (hits.session !== undefined) return reject('session_revoked');
    const row = sessionRow.get(sid);
    if (row === undefined || row.endedAt !== null) return reject('session_ended');
    return { ok: true, kind: 'session', claims };
  }

  function verifyAccessToken(token: unknown): LocalTokenVerdict {
    const self = device();
    if (self === null) return reject('not_enrolled');
    const keys = jwks.keys();
    const issuer = bindingIssuer.get() ?? '';
    if (access?.keys !== keys || access.issuer !== issuer) {
      access = {
        keys,
        issuer,
        verifier: createJwtVerifier({
          keys,
          typ: ACCESS_TOKEN_TYPE,
          issuer,
          audience: ACCESS_TOKEN_AUDIENCE,
          requiredClaims: ['sub', 'sid', 'tenant', 'iat'],
        }),
      };
    }
    const verdict = access.verifier.verify(token, nowSeconds());
    if (!verdict.ok) return reject(rejectionOfJwt(verdict.reason), verdict.detail);
    const { claims, header } = verdict;
    if (claims['tenant'] !== self.tenantId) return reject('wrong_tenant');
    const { sub, sid, iat } = claims;
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof iat !== 'number') {
      return reject('malformed', 'sub, sid or iat');
    }
    const hits = revocations.find({
      device: self.deviceId,
      user: sub,
      session: sid,
      ...(header.kid === undefined ? {} : { key: header.kid }),
    });
    if (hits.device !== undefined || bindingRevoked.get()) return reject('device_revoked');
    if (hits.key !== undefined) return reject('key_revoked');
    if (hits.user !== undefined && hits.user >= iat * 1000) return reject('user_revoked');
    if (hits.session !== undefined) return reject('session_revoked');
    if (ended(sid)) return reject('session_ended');
    return { ok: true, kind: 'access', claims };
  }

  return {
    verifySessionToken,
    verifyAccessToken,
    verify(token) {
      const typ = headerType(token);
      if (typ === SESSION_TOKEN_TYPE) return verifySessionToken(token);
      if (typ === ACCESS_TOKEN_TYPE) return verifyAccessToken(token);
      return reject(typ === null ? 'malformed' : 'wrong_type');
    },
  };
}

/** `typ` as RFC 7515 compares it (case-insensitive, `application/` optional); null if unreadable. */
function headerType(token: unknown): string | null {
  const dot = typeof token === 'string' ? token.indexOf('.') : -1;
  if (dot < 1) return null;
  try {
    const header = JSON.parse(
      Buffer.from((token as string).slice(0, dot), 'base64url').toString('utf8'),
    ) as { typ?: unknown } | null;
    if (header === null || typeof header !== 'object') return null;
    if (typeof header.typ !== 'string') return '';
    const typ = header.typ.toLowerCase();
    return typ.startsWith('application/') ? typ.slice('application/'.length) : typ;
  } catch {
    return null;
  }
}
