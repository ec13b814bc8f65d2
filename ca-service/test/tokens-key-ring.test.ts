import * as jose from 'jose';
import { describe, expect, it } from 'vitest';
import type { PublicJwks } from '@lantern/shared';
import { createJwtVerifier, epochSeconds, importJwks, manualClock } from '@lantern/shared';
import { openKeyRing } from '../src/tokens/key-ring.js';
import type { KeyRingStore } from '../src/tokens/key-ring-store.js';
import { KeyRingChangedError, memoryKeyRingStore } from '../src/tokens/key-ring-store.js';
import {
  KeyRingCorruptError,
  TokenKeyNotFoundError,
  TokenLifetimeExceededError,
} from '../src/errors.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const ISSUER = 'https://ca.lantern.test';
const LIFETIME = HOUR;
const GRACE = 60_000;

function setup(store: KeyRingStore = memoryKeyRingStore()) {
  const clock = manualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const ring = openKeyRing({
    clock,
    store,
    maxTokenLifetimeMs: LIFETIME,
    rotationPeriodMs: 30 * DAY,
    removalGraceMs: GRACE,
  });
  const issue = (ttlSeconds = 600) => {
    const now = epochSeconds(clock);
    return ring.sign({ iss: ISSUER, sub: 'usr_1', iat: now, exp: now + ttlSeconds });
  };
  const verify = (token: string, jwks: PublicJwks = ring.jwks()) =>
    createJwtVerifier({ keys: importJwks(jwks), issuer: ISSUER }).verify(
      token,
      epochSeconds(clock),
    );
  return { clock, ring, store, issue, verify };
}

const kidOf = (token: string): unknown =>
  JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()).kid;
const kids = (jwks: PublicJwks) => jwks.keys.map((key) => key.kid);

describe('token key ring', () => {
  it('starts with an active key that signs and a next key that is only published', () => {
    const { ring, issue, verify } = setup();
    const jwks = ring.jwks();
    expect(jwks.keys).toHaveLength(2);
    const token = issue();
    expect(kidOf(token)).toBe(ring.activeKid);
    expect(kids(jwks)).toContain(ring.activeKid);
    expect(verify(token)).toMatchObject({ ok: true, claims: { sub: 'usr_1' } });
  });

  it('publishes the next key before it signs: a JWKS fetched before a rotation verifies tokens after it', () => {
    const { ring, issue, verify } = setup();
    const before = ring.jwks();
    const change = ring.rotate();
    expect(kids(before)).toContain(change.rotation?.activeKid);
    const token = issue();
    expect(kidOf(token)).toBe(change.rotation?.activeKid);
    expect(verify(token, before).ok).toBe(true);
  });

  it('keeps verifying a token issued before a rotation', () => {
    const { ring, clock, issue, verify } = setup();
    const token = issue(3600);
    const oldKid = ring.activeKid;
    ring.rotate();
    expect(ring.activeKid).not.toBe(oldKid);
    clock.advance(30 * 60 * 1000);
    expect(kids(ring.jwks())).toContain(oldKid);
    expect(verify(token).ok).toBe(true);
  });

  it('removes a retired key once its last token has expired, and its tokens then fail', () => {
    const { ring, clock, issue, verify } = setup();
    const token = issue(3600);
    const oldKid = ring.activeKid;
    const { rotation } = ring.rotate();
    expect(rotation?.retiredKid).toBe(oldKid);

    clock.advance(LIFETIME + GRACE - 1);
    expect(kids(ring.jwks())).toContain(oldKid);
    expect(ring.scheduledRotation()).toEqual({ rotation: null, removedKids: [] });

    clock.advance(1);
    expect(kids(ring.jwks())).not.toContain(oldKid);
    expect(ring.scheduledRotation()).toEqual({ rotation: null, removedKids: [oldKid] });
    expect(verify(token)).toEqual({ ok: false, reason: 'unknown_kid' });
  });

  it('never publishes private parts', async () => {
    const { ring } = setup();
    ring.rotate();
    const jwks = ring.jwks();
    expect(jwks.keys).toHaveLength(3);
    expect(JSON.stringify(jwks)).not.toMatch(/"d"/);
    for (const key of jwks.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig', alg: 'ES256' });
      expect(key.kid).toBe(await jose.calculateJwkThumbprint(key as jose.JWK));
    }
  });

  it('rotates on schedule once the active key has signed for a full period', () => {
    const { ring, clock, store } = setup();
    const first = ring.activeKid;
    clock.advance(30 * DAY - 1);
    expect(ring.scheduledRotation().rotation).toBeNull();
    clock.advance(1);
    const { rotation } = ring.scheduledRotation();
    expect(rotation?.retiredKid).toBe(first);
    expect(ring.activeKid).toBe(rotation?.activeKid);
    expect(ring.scheduledRotation().rotation).toBeNull();
    const saved = store.load()?.keys ?? [];
    expect(saved.map((key) => [key.kid, key.status])).toEqual([
      [first, 'retired'],
      [rotation?.activeKid, 'active'],
      [rotation?.nextKid, 'next'],
    ]);
  });

  it('refuses to sign a token that could outlive its key', () => {
    const { ring, clock } = setup();
    const now = epochSeconds(clock);
    expect(() => ring.sign({ sub: 'usr_1' })).toThrow(TokenLifetimeExceededError);
    expect(() => ring.sign({ exp: now + 3601 })).toThrow(TokenLifetimeExceededError);
    expect(() => ring.sign({ exp: Number.NaN })).toThrow(TokenLifetimeExceededError);
    expect(() => ring.sign({ exp: now + 3600 })).not.toThrow();
  });

  it('reopens from its store with the same keys', () => {
    const first = setup();
    first.ring.rotate();
    const token = first.issue();
    const second = setup(first.store);
    expect(second.ring.activeKid).toBe(first.ring.activeKid);
    expect(kids(second.ring.jwks())).toEqual(kids(first.ring.jwks()));
    expect(second.verify(token).ok).toBe(true);
  });

  it('keeps signing with the old key when a rotation cannot be saved', () => {
    const memory = memoryKeyRingStore();
    let failing = false;
    const store: KeyRingStore = {
      load: () => memory.load(),
      save: (state) => {
        if (failing) throw new Error('disk full');
        memory.save(state);
      },
    };
    const { ring, issue } = setup(store);
    const before = ring.activeKid;
    const published = kids(ring.jwks());
    failing = true;
    expect(() => ring.rotate()).toThrow('disk full');
    expect(ring.activeKid).toBe(before);
    expect(kidOf(issue())).toBe(before);
    expect(kids(ring.jwks())).toEqual(published);
  });

  it('revokes the active key at once: out of the JWKS, its tokens fail, a new key signs', () => {
    const { ring, store, issue, verify } = setup();
    const compromised = ring.activeKid;
    const promoted = kids(ring.jwks()).find((kid) => kid !== compromised);
    const before = issue();
    const change = ring.revoke(compromised);
    expect(change.removedKids).toEqual([compromised]);
    expect(ring.activeKid).toBe(promoted);
    expect(kids(ring.jwks())).not.toContain(compromised);
    expect(ring.jwks().keys).toHaveLength(2);
    expect(verify(before)).toMatchObject({ ok: false, reason: 'unknown_kid' });
    expect(verify(issue())).toMatchObject({ ok: true });
    // Saved before it took effect: a restart does not bring the key back.
    expect(kids(setup(store).ring.jwks())).not.toContain(compromised);
  });

  it('revokes a retired key before its tokens expire, and replaces a next key', () => {
    const { ring, issue, verify } = setup();
    const retired = ring.activeKid;
    const token = issue();
    ring.rotate();
    expect(verify(token).ok).toBe(true);
    ring.revoke(retired);
    expect(verify(token)).toMatchObject({ ok: false, reason: 'unknown_kid' });
    const active = ring.activeKid;
    const next = kids(ring.jwks()).find((kid) => kid !== active) ?? '';
    ring.revoke(next);
    expect(ring.activeKid).toBe(active);
    expect(kids(ring.jwks())).toHaveLength(2);
    expect(kids(ring.jwks())).not.toContain(next);
  });

  it('revokes again on the ring another instance saved meanwhile, instead of dropping it', () => {
    const shared = memoryKeyRingStore();
    const other = setup(shared);
    let raced = false;
    let changed = false;
    const store: KeyRingStore = {
      load: () => shared.load(),
      save: (state) => {
        if (!raced) {
          // Another instance rotates between this one's refresh and its save.
          raced = true;
          other.ring.rotate();
          changed = true;
          throw new KeyRingChangedError();
        }
        shared.save(state);
      },
      changed: () => changed,
    };
    const { ring } = setup(store);
    const compromised = ring.activeKid;
    const change = ring.revoke(compromised);
    changed = false;
    expect(change.removedKids).toEqual([compromised]);
    expect(ring.activeKid).toBe(other.ring.activeKid);
    expect(kids(ring.jwks())).not.toContain(compromised);
    expect(shared.load()?.keys.map((key) => key.kid)).not.toContain(compromised);
  });

  it('refuses a kid it does not hold, changing nothing', () => {
    const { ring } = setup();
    const published = kids(ring.jwks());
    expect(() => ring.revoke('A'.repeat(43))).toThrow(TokenKeyNotFoundError);
    expect(kids(ring.jwks())).toEqual(published);
  });

  it('refuses a stored state without exactly one active and one next key', () => {
    const { store } = setup();
    const keys = store.load()?.keys ?? [];
    const broken = memoryKeyRingStore();
    broken.save({ keys: keys.filter((key) => key.status !== 'next') });
    expect(() => setup(broken)).toThrow(KeyRingCorruptError);
    const swapped = memoryKeyRingStore();
    swapped.save({ keys: keys.map((key, index) => ({ ...key, kid: keys[1 - index]?.kid ?? '' })) });
    expect(() => setup(swapped)).toThrow(KeyRingCorruptError);
  });
});
