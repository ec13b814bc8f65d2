import { KeyObject, generateKeyPairSync } from 'node:crypto';
import type {
  Clock,
  JwsHeaderInput,
  JwtClaims,
  PublicJwks,
  PublicSigningJwk,
} from '@lantern/shared';
import { publicJwk, signJwt } from '@lantern/shared';
import type { HeldKey } from '../pki/pkcs11-token.js';
import type { KeyRingStore, TokenKey } from './key-ring-store.js';
import { KeyRingChangedError } from './key-ring-store.js';
import type { StoredKeyState } from './stored-key.js';
import { encodeKeyState } from './stored-key.js';
import {
  KeyRingBusyError,
  KeyRingCorruptError,
  TokenKeyNotFoundError,
  TokenLifetimeExceededError,
} from '../errors.js';

export interface KeyRingConfig {
  clock: Clock;
  store: KeyRingStore;
  /**
   * The longest `exp − now` of any token this ring signs. A retired key stays published this
   * long after it stops signing, so it must cover the longest-lived token (offline grants).
   */
  maxTokenLifetimeMs: number;
  /** How long a key signs before `scheduledRotation` replaces it. Default 30 days. */
  rotationPeriodMs?: number;
  /** Added to a retired key's publication: verifiers accept `exp` this late. Default 60 s. */
  removalGraceMs?: number;
  /** Wraps every signature (the KMS latency metric); called synchronously. */
  timeSignature?: <T>(sign: () => T) => T;
}

export interface KeyRingChange {
  /** Set when the keys moved: active retired, next became active, a new next was made. */
  rotation: { retiredKid: string; activeKid: string; nextKid: string } | null;
  /** Retired keys whose last token has expired, now gone from the JWKS and the store. */
  removedKids: string[];
}

/**
 * A key of the ring as an admin sees it, as the key files keep its state: no key material,
 * ISO 8601 times; a retired key's `removeAfter` is when it leaves the JWKS.
 */
export type TokenKeyView = StoredKeyState;

export interface KeyRing {
  readonly activeKid: string;
  /** Next, active, then retired keys, as `jwks()` publishes them. */
  list(): TokenKeyView[];
  /** `claims.exp` (seconds) is required and bounded by `maxTokenLifetimeMs`. */
  sign(claims: JwtClaims, options?: { typ?: string }): string;
  /** Public parts only: next, active, then retired keys until their `removeAfter`. */
  jwks(): PublicJwks;
  /** Unconditional; the retired key stays published until the last token it signed expires. */
  rotate(): Promise<KeyRingChange>;
  /**
   * The answer to a compromised key: it is gone from the ring and the JWKS at once, so every
   * token it signed stops verifying (at the CA now, on a device at its next sync, whose signed
   * key set no longer has it). The active key is first rotated out; a `next` key is replaced.
   * `TokenKeyNotFoundError` for a kid the ring does not hold.
   */
  revoke(kid: string): Promise<KeyRingChange>;
  /**
   * The answer to a leak of the key store (or its passphrase): every key in it is as exposed as
   * the active one, the next and the retired keys included, so all go at once and two fresh keys
   * take their place; every token signed so far stops verifying. `removedKids` lists the old keys.
   */
  replaceAll(): Promise<KeyRingChange>;
  /** Rotates when the active key has signed for a full period; drops keys past `removeAfter`. */
  scheduledRotation(): Promise<KeyRingChange>;
  /**
   * Takes up what another CA instance saved to a shared store (a rotation there); true when the
   * keys changed. A no-op for a store this process alone writes.
   */
  refresh(): Promise<boolean>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** A revocation or replacement made again on a ring other instances keep changing: at most. */
const MAX_ATTEMPTS = 3;
const STATUS_ORDER = { next: 0, active: 1, retired: 2 } as const;

/**
 * The JWT signing keys (docs/architecture.md §2): a key is published as `next` for a whole rotation period
 * before it signs, so every JWKS cache has it by the time its first token arrives, and it stays
 * published after it retires until the last token it signed has expired. Each change is saved
 * before it takes effect here: a key that signed is never one the store could lose.
 */
export async function openKeyRing(config: KeyRingConfig): Promise<KeyRing> {
  const { clock, store, maxTokenLifetimeMs } = config;
  const rotationPeriodMs = config.rotationPeriodMs ?? 30 * DAY_MS;
  const removalGraceMs = config.removalGraceMs ?? 60_000;
  const timeSignature = config.timeSignature ?? ((sign) => sign());
  const generateKey = (now: number) => {
    const privateKey = store.generateKey?.() ?? softwareKey();
    return { kid: publicJwk(publicKeyOf(privateKey)).kid, privateKey, createdAt: now };
  };
  if (!(maxTokenLifetimeMs > 0 && rotationPeriodMs > 0 && removalGraceMs >= 0)) {
    throw new RangeError('key ring periods must be positive durations in milliseconds');
  }
  const published = new Map<string, PublicSigningJwk>();
  const publicPart = (key: TokenKey): PublicSigningJwk => {
    const cached = published.get(key.kid);
    if (cached !== undefined) return cached;
    const jwk = publicJwk(publicKeyOf(key.privateKey));
    published.set(key.kid, jwk);
    return jwk;
  };

  const loadSaved = async (): Promise<readonly TokenKey[] | null> => {
    const loaded = await store.load();
    if (loaded !== null) checkShape(loaded.keys, publicPart);
    return loaded?.keys ?? null;
  };
  /** An active key and its next, both new: a first ring, or one that replaces every key. */
  const freshRing = (now: number): TokenKey[] => [
    { ...generateKey(now), status: 'active', activatedAt: now },
    { ...generateKey(now), status: 'next' },
  ];
  const firstKeys = async (): Promise<readonly TokenKey[]> => {
    const now = clock.now();
    const fresh = freshRing(now);
    try {
      await store.save({ keys: fresh });
      return fresh;
    } catch (error) {
      // Another instance made the first ring a moment earlier: that one is everyone's.
      const saved = error instanceof KeyRingChangedError ? await loadSaved() : null;
      if (saved === null) throw error;
      return saved;
    }
  };
  let keys: readonly TokenKey[] = (await loadSaved()) ?? (await firstKeys());
  /**
   * The ring's changes and refreshes, one at a time: each reads `keys`, awaits the store and
   * then sets `keys`, so two at once would build on the same ring and the second save would
   * undo the first (a revoked key back in the ring).
   */
  let turn: Promise<unknown> = Promise.resolve();
  function serial<T>(work: () => Promise<T>): Promise<T> {
    const run = turn.then(work);
    turn = run.catch(() => undefined);
    return run;
  }

  /** Takes up what the store holds: when another instance changed it, or `always`. */
  async function refresh(always = false): Promise<boolean> {
    if (!always && (await store.changed?.()) !== true) return false;
    const saved = await loadSaved();
    if (saved === null) return false;
    keys = saved;
    return true;
  }

  /**
   * Saves `next`; false when another instance changed the ring first (nothing was saved). A
   * save that failed otherwise may have failed after it wrote (a directory sync, a key destroyed
   * on a token): this instance then follows what the store holds, so a revoked key it no longer
   * names does not go on signing here, and the error is thrown.
   */
  async function trySave(next: readonly TokenKey[]): Promise<boolean> {
    try {
      await store.save({ keys: next });
      return true;
    } catch (error) {
      if (error instanceof KeyRingChangedError) return false;
      try {
        await refresh(true);
      } catch {
        // The store cannot be read either: keep the ring in memory; the save's error says why.
      }
      throw error;
    }
  }

  async function change(rotate: boolean, revokedKid?: string, attempt = 1): Promise<KeyRingChange> {
    await refresh();
    const now = clock.now();
    const revoked =
      revokedKid === undefined ? undefined : keys.find((key) => key.kid === revokedKid);
    if (revokedKid !== undefined && revoked === undefined) throw new TokenKeyNotFoundError();
    let rotation: ReturnType<typeof rotated> | null = null;
    let current = keys;
    if (rotate || revoked?.status === 'active') {
      // A revoked active key retires with nothing left to honour: it goes below at once.
      const removeAfter = revoked === undefined ? now + maxTokenLifetimeMs + removalGraceMs : now;
      rotation = rotated(current, now, removeAfter, generateKey(now));
      current = rotation.keys;
    } else if (revoked?.status === 'next') {
      current = [
        ...current.filter((key) => key !== revoked),
        { ...generateKey(now), status: 'next' as const },
      ];
    }
    const removed = current.filter(
      (key) => key.kid === revokedKid || (key.status === 'retired' && key.removeAfter <= now),
    );
    const kept = current.filter((key) => !removed.includes(key));
    if (current !== keys || removed.length > 0) {
      if (!(await trySave(kept))) {
        // Another instance changed the ring meanwhile; its change stands and this one is
        // dropped, except a revocation, which is made again on the ring as it now is.
        await refresh();
        if (revokedKid !== undefined && keys.some((key) => key.kid === revokedKid)) {
          if (attempt >= MAX_ATTEMPTS) throw new KeyRingBusyError();
          return change(false, revokedKid, attempt + 1);
        }
        return { rotation: null, removedKids: [] };
      }
      keys = kept;
    }
    for (const key of removed) published.delete(key.kid);
    return { rotation: rotation?.summary ?? null, removedKids: removed.map((key) => key.kid) };
  }

  async function replaceAll(attempt = 1): Promise<KeyRingChange> {
    await refresh();
    const now = clock.now();
    const fresh = freshRing(now);
    if (!(await trySave(fresh))) {
      // Another instance changed the ring meanwhile: replace what it holds now.
      if (attempt >= MAX_ATTEMPTS) throw new KeyRingBusyError();
      return replaceAll(attempt + 1);
    }
    const removed = keys.map((key) => key.kid);
    keys = fresh;
    for (const kid of removed) published.delete(kid);
    return { rotation: null, removedKids: removed };
  }

  return {
    get activeKid() {
      return activeKey(keys).kid;
    },
    list() {
      return [...keys]
        .sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status])
        .map(encodeKeyState);
    },
    sign(claims, options = {}) {
      const { exp } = claims;
      const latest = clock.now() + maxTokenLifetimeMs;
      if (typeof exp !== 'number' || !Number.isFinite(exp) || exp * 1000 > latest) {
        throw new TokenLifetimeExceededError();
      }
      const key = activeKey(keys);
      const { privateKey } = key;
      return timeSignature(() =>
        privateKey instanceof KeyObject
          ? signJwt(claims, { ...options, kid: key.kid }, privateKey)
          : signHeldJwt(claims, { ...options, kid: key.kid }, privateKey),
      );
    },
    jwks() {
      const now = clock.now();
      const live = keys.filter((key) => key.status !== 'retired' || key.removeAfter > now);
      const ordered = [...live].sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status]);
      return { keys: ordered.map(publicPart) };
    },
    rotate: () => serial(() => change(true)),
    revoke: (kid) => serial(() => change(false, kid)),
    replaceAll: () => serial(() => replaceAll()),
    scheduledRotation: () =>
      serial(async () => {
        await refresh();
        return change(clock.now() - activeKey(keys).activatedAt >= rotationPeriodMs);
      }),
    refresh: () => serial(() => refresh()),
  };
}

function rotated(
  keys: readonly TokenKey[],
  now: number,
  removeAfter: number,
  fresh: { kid: string; privateKey: KeyObject | HeldKey; createdAt: number },
) {
  const retiring = activeKey(keys);
  const promoted = keys.find((key) => key.status === 'next');
  if (promoted === undefined) throw new KeyRingCorruptError('The key ring has no next key.');
  const next = keys.map((key): TokenKey => {
    if (key === retiring) return { ...retiring, status: 'retired', retiredAt: now, removeAfter };
    if (key === promoted) return { ...promoted, status: 'active', activatedAt: now };
    return key;
  });
  next.push({ ...fresh, status: 'next' });
  const summary = { retiredKid: retiring.kid, activeKid: promoted.kid, nextKid: fresh.kid };
  return { keys: next, summary };
}

function activeKey(keys: readonly TokenKey[]): TokenKey & { status: 'active' } {
  const active = keys.find((key) => key.status === 'active');
  if (active?.status !== 'active') throw new KeyRingCorruptError('The key ring has no active key.');
  return active;
}

function softwareKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

function publicKeyOf(key: KeyObject | HeldKey): KeyObject {
  return key instanceof KeyObject ? key : key.publicKey;
}

/** The compact JWS that `signJwt` makes, with the signature from a key held by a token. */
function signHeldJwt(claims: JwtClaims, header: JwsHeaderInput, key: HeldKey): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode({ alg: 'ES256', ...header })}.${encode(claims)}`;
  const signature = key.sign(Buffer.from(signingInput), 'ieee-p1363');
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** One active, one next, distinct kids, each the thumbprint of its key: else it is corrupt. */
function checkShape(keys: readonly TokenKey[], publicPart: (key: TokenKey) => PublicSigningJwk) {
  const count = (status: TokenKey['status']) => keys.filter((key) => key.status === status).length;
  if (count('active') !== 1 || count('next') !== 1) {
    throw new KeyRingCorruptError('A key ring has exactly one active and one next key.');
  }
  if (new Set(keys.map((key) => key.kid)).size !== keys.length) {
    throw new KeyRingCorruptError('A kid appears twice in the key ring.');
  }
  for (const key of keys) {
    const jwk = publicPart(key);
    if (jwk.kid !== key.kid || jwk.alg !== 'ES256') {
      throw new KeyRingCorruptError(`Key ${key.kid} is not the ES256 key its kid names.`);
    }
  }
}
