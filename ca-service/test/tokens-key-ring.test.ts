import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';
import { describe, expect, it } from 'vitest';
import type { PublicJwks } from '@lantern/shared';
import { createJwtVerifier, epochSeconds, importJwks, manualClock } from '@lantern/shared';
import type { HeldKey, Pkcs11Token } from '../src/pki/pkcs11-token.js';
import { openKeyRing } from '../src/tokens/key-ring.js';
import { pkcs11KeyRingStore } from '../src/tokens/pkcs11-key-ring-store.js';
import type { KeyRingStore } from '../src/tokens/key-ring-store.js';
import { KeyRingChangedError, memoryKeyRingStore } from '../src/tokens/key-ring-store.js';
import {
  KeyRingBusyError,
  KeyRingCorruptError,
  TokenKeyNotFoundError,
  TokenLifetimeExceededError,
} from '../src/errors.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const ISSUER = 'https://ca.lantern.test';
const LIFETIME = HOUR;
const GRACE = 60_000;

async function setup(store: KeyRingStore = memoryKeyRingStore()) {
  const clock = manualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
  const ring = await openKeyRing({
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
  it('starts with an active key that signs and a next key that is only published', async () => {
    const { ring, issue, verify } = await setup();
    const jwks = ring.jwks();
    expect(jwks.keys).toHaveLength(2);
    const token = issue();
    expect(kidOf(token)).toBe(ring.activeKid);
    expect(kids(jwks)).toContain(ring.activeKid);
    expect(verify(token)).toMatchObject({ ok: true, claims: { sub: 'usr_1' } });
  });

  it('publishes the next key before it signs: a JWKS fetched before a rotation verifies tokens after it', async () => {
    const { ring, issue, verify } = await setup();
    const before = ring.jwks();
    const change = await ring.rotate();
    expect(kids(before)).toContain(change.rotation?.activeKid);
    const token = issue();
    expect(kidOf(token)).toBe(change.rotation?.activeKid);
    expect(verify(token, before).ok).toBe(true);
  });

  it('keeps verifying a token issued before a rotation', async () => {
    const { ring, clock, issue, verify } = await setup();
    const token = issue(3600);
    const oldKid = ring.activeKid;
    await ring.rotate();
    expect(ring.activeKid).not.toBe(oldKid);
    clock.advance(30 * 60 * 1000);
    expect(kids(ring.jwks())).toContain(oldKid);
    expect(verify(token).ok).toBe(true);
  });

  it('removes a retired key once its last token has expired, and its tokens then fail', async () => {
    const { ring, clock, issue, verify } = await setup();
    const token = issue(3600);
    const oldKid = ring.activeKid;
    const { rotation } = await ring.rotate();
    expect(rotation?.retiredKid).toBe(oldKid);

    clock.advance(LIFETIME + GRACE - 1);
    expect(kids(ring.jwks())).toContain(oldKid);
    expect(await ring.scheduledRotation()).toEqual({ rotation: null, removedKids: [] });

    clock.advance(1);
    expect(kids(ring.jwks())).not.toContain(oldKid);
    expect(await ring.scheduledRotation()).toEqual({ rotation: null, removedKids: [oldKid] });
    expect(verify(token)).toEqual({ ok: false, reason: 'unknown_kid' });
  });

  it('never publishes private parts', async () => {
    const { ring } = await setup();
    await ring.rotate();
    const jwks = ring.jwks();
    expect(jwks.keys).toHaveLength(3);
    expect(JSON.stringify(jwks)).not.toMatch(/"d"/);
    for (const key of jwks.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig', alg: 'ES256' });
      expect(key.kid).toBe(await jose.calculateJwkThumbprint(key as jose.JWK));
    }
  });

  it('rotates on schedule once the active key has signed for a full period', async () => {
    const { ring, clock, store } = await setup();
    const first = ring.activeKid;
    clock.advance(30 * DAY - 1);
    expect((await ring.scheduledRotation()).rotation).toBeNull();
    clock.advance(1);
    const { rotation } = await ring.scheduledRotation();
    expect(rotation?.retiredKid).toBe(first);
    expect(ring.activeKid).toBe(rotation?.activeKid);
    expect((await ring.scheduledRotation()).rotation).toBeNull();
    const saved = (await store.load())?.keys ?? [];
    expect(saved.map((key) => [key.kid, key.status])).toEqual([
      [first, 'retired'],
      [rotation?.activeKid, 'active'],
      [rotation?.nextKid, 'next'],
    ]);
  });

  it('refuses to sign a token that could outlive its key', async () => {
    const { ring, clock } = await setup();
    const now = epochSeconds(clock);
    expect(() => ring.sign({ sub: 'usr_1' })).toThrow(TokenLifetimeExceededError);
    expect(() => ring.sign({ exp: now + 3601 })).toThrow(TokenLifetimeExceededError);
    expect(() => ring.sign({ exp: Number.NaN })).toThrow(TokenLifetimeExceededError);
    expect(() => ring.sign({ exp: now + 3600 })).not.toThrow();
  });

  it('reopens from its store with the same keys', async () => {
    const first = await setup();
    await first.ring.rotate();
    const token = first.issue();
    const second = await setup(first.store);
    expect(second.ring.activeKid).toBe(first.ring.activeKid);
    expect(kids(second.ring.jwks())).toEqual(kids(first.ring.jwks()));
    expect(second.verify(token).ok).toBe(true);
  });

  it('keeps signing with the old key when a rotation cannot be saved', async () => {
    const memory = memoryKeyRingStore();
    let failing = false;
    const store: KeyRingStore = {
      load: () => memory.load(),
      save: async (state) => {
        if (failing) throw new Error('disk full');
        await memory.save(state);
      },
    };
    const { ring, issue } = await setup(store);
    const before = ring.activeKid;
    const published = kids(ring.jwks());
    failing = true;
    await expect((async () => ring.rotate())()).rejects.toThrow('disk full');
    expect(ring.activeKid).toBe(before);
    expect(kidOf(issue())).toBe(before);
    expect(kids(ring.jwks())).toEqual(published);
  });

  it('revokes the active key at once: out of the JWKS, its tokens fail, a new key signs', async () => {
    const { ring, store, issue, verify } = await setup();
    const compromised = ring.activeKid;
    const promoted = kids(ring.jwks()).find((kid) => kid !== compromised);
    const before = issue();
    const change = await ring.revoke(compromised);
    expect(change.removedKids).toEqual([compromised]);
    expect(ring.activeKid).toBe(promoted);
    expect(kids(ring.jwks())).not.toContain(compromised);
    expect(ring.jwks().keys).toHaveLength(2);
    expect(verify(before)).toMatchObject({ ok: false, reason: 'unknown_kid' });
    expect(verify(issue())).toMatchObject({ ok: true });
    // Saved before it took effect: a restart does not bring the key back.
    expect(kids((await setup(store)).ring.jwks())).not.toContain(compromised);
  });

  it('revokes a retired key before its tokens expire, and replaces a next key', async () => {
    const { ring, issue, verify } = await setup();
    const retired = ring.activeKid;
    const token = issue();
    await ring.rotate();
    expect(verify(token).ok).toBe(true);
    await ring.revoke(retired);
    expect(verify(token)).toMatchObject({ ok: false, reason: 'unknown_kid' });
    const active = ring.activeKid;
    const next = kids(ring.jwks()).find((kid) => kid !== active) ?? '';
    await ring.revoke(next);
    expect(ring.activeKid).toBe(active);
    expect(kids(ring.jwks())).toHaveLength(2);
    expect(kids(ring.jwks())).not.toContain(next);
  });

  it('revokes again on the ring another instance saved meanwhile, instead of dropping it', async () => {
    const shared = memoryKeyRingStore();
    const other = await setup(shared);
    let raced = false;
    let changed = false;
    const store: KeyRingStore = {
      load: () => shared.load(),
      save: async (state) => {
        if (!raced) {
          // Another instance rotates between this one's refresh and its save.
          raced = true;
          await other.ring.rotate();
          changed = true;
          throw new KeyRingChangedError();
        }
        await shared.save(state);
      },
      changed: () => changed,
    };
    const { ring } = await setup(store);
    const compromised = ring.activeKid;
    const change = await ring.revoke(compromised);
    changed = false;
    expect(change.removedKids).toEqual([compromised]);
    expect(ring.activeKid).toBe(other.ring.activeKid);
    expect(kids(ring.jwks())).not.toContain(compromised);
    expect((await shared.load())?.keys.map((key) => key.kid)).not.toContain(compromised);
  });

  it('makes changes asked for at once one after the other: a revocation is not undone by a rotation', async () => {
    const memory = memoryKeyRingStore();
    // A store that answers late, as a database does: both changes are under way together.
    const store: KeyRingStore = {
      load: () => memory.load(),
      save: async (state) => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        await memory.save(state);
      },
    };
    const { ring } = await setup(store);
    const compromised = ring.activeKid;
    await Promise.all([ring.revoke(compromised), ring.rotate()]);
    expect(kids(ring.jwks())).not.toContain(compromised);
    expect((await memory.load())?.keys.map((key) => key.kid)).not.toContain(compromised);
  });

  it('follows the store when a save fails after writing: a revoked key stops signing here too', async () => {
    const memory = memoryKeyRingStore();
    let failAfterWrite = false;
    const store: KeyRingStore = {
      load: () => memory.load(),
      save: async (state) => {
        await memory.save(state);
        if (failAfterWrite) throw new Error('directory sync failed');
      },
    };
    const { ring, issue } = await setup(store);
    const compromised = ring.activeKid;
    failAfterWrite = true;
    await expect((async () => ring.revoke(compromised))()).rejects.toThrow('directory sync failed');
    expect(ring.activeKid).not.toBe(compromised);
    expect(kids(ring.jwks())).not.toContain(compromised);
    expect(kidOf(issue())).toBe(ring.activeKid);
  });

  it('on a PKCS#11 token, a key the token will not destroy does not fail the revocation; it goes at the next save', async () => {
    // A token that refuses C_DestroyObject once: the failure SoftHSM cannot be made to show.
    const held = new Map<string, HeldKey>();
    let refuseDestroy = true;
    const token: Pkcs11Token = {
      tokenLabel: 'test',
      generateKey() {
        const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const id = randomBytes(8).toString('hex');
        const key: HeldKey = {
          kind: 'pkcs11',
          id,
          publicKey,
          sign: (data, encoding) =>
            sign('sha256', data, {
              key: privateKey,
              dsaEncoding: encoding === 'der' ? 'der' : 'ieee-p1363',
            }),
        };
        held.set(id, key);
        return key;
      },
      key(id) {
        const key = held.get(id);
        if (key === undefined) throw new Error(`no key ${id}`);
        return key;
      },
      destroyKey(id) {
        if (refuseDestroy) throw new Error('CKR_DEVICE_ERROR');
        held.delete(id);
      },
      close() {},
    };
    const file = join(mkdtempSync(join(tmpdir(), 'lantern-ring-')), 'token-keys.pkcs11.json');
    const { ring, issue, verify } = await setup(pkcs11KeyRingStore(file, token));
    const compromised = ring.activeKid;
    const before = issue();
    await ring.revoke(compromised);
    expect(verify(before)).toMatchObject({ ok: false, reason: 'unknown_kid' });
    expect(held.size).toBe(3);
    refuseDestroy = false;
    await ring.rotate();
    expect(held.size).toBe(3);
    expect(verify(issue())).toMatchObject({ ok: true });
  });

  it('replaces every key at once after a leak of its store: retired and next keys go too', async () => {
    const { ring, store, issue, verify } = await setup();
    const first = issue();
    await ring.rotate();
    const second = issue();
    const old = kids(ring.jwks());
    expect(old).toHaveLength(3);
    const change = await ring.replaceAll();
    expect([...change.removedKids].sort()).toEqual([...old].sort());
    const now = kids(ring.jwks());
    expect(now).toHaveLength(2);
    expect(now.some((kid) => old.includes(kid))).toBe(false);
    expect(verify(first)).toMatchObject({ ok: false, reason: 'unknown_kid' });
    expect(verify(second)).toMatchObject({ ok: false, reason: 'unknown_kid' });
    expect(verify(issue())).toMatchObject({ ok: true });
    expect(kids((await setup(store)).ring.jwks())).toEqual(now);
  });

  it('gives up after a few tries when other instances keep changing the ring', async () => {
    const memory = memoryKeyRingStore();
    let saves = 0;
    const store: KeyRingStore = {
      load: () => memory.load(),
      save: async (state) => {
        if ((await memory.load()) === null) return memory.save(state);
        saves += 1;
        throw new KeyRingChangedError();
      },
      changed: () => false,
    };
    const { ring } = await setup(store);
    await expect((async () => ring.replaceAll())()).rejects.toThrow(KeyRingBusyError);
    await expect((async () => ring.revoke(ring.activeKid))()).rejects.toThrow(KeyRingBusyError);
    expect(saves).toBe(6);
  });

  it('lists its keys for an admin with their times, next first, and no key material', async () => {
    const { ring, clock } = await setup();
    const first = ring.activeKid;
    clock.advance(HOUR);
    await ring.rotate();
    const listed = ring.list();
    expect(listed.map((key) => key.status)).toEqual(['next', 'active', 'retired']);
    expect(listed.map((key) => key.kid)).toEqual(kids(ring.jwks()));
    expect(listed[2]).toEqual({
      kid: first,
      status: 'retired',
      createdAt: '2026-11-23T10:00:00.000Z',
      activatedAt: '2026-11-23T10:00:00.000Z',
      retiredAt: '2026-11-23T11:00:00.000Z',
      removeAfter: new Date(Date.UTC(2026, 10, 23, 11) + LIFETIME + GRACE).toISOString(),
    });
    expect(JSON.stringify(listed)).not.toMatch(/"d"|privateKey/);
  });

  it('refuses a kid it does not hold, changing nothing', async () => {
    const { ring } = await setup();
    const published = kids(ring.jwks());
    await expect((async () => ring.revoke('A'.repeat(43)))()).rejects.toThrow(
      TokenKeyNotFoundError,
    );
    expect(kids(ring.jwks())).toEqual(published);
  });

  it('refuses a stored state without exactly one active and one next key', async () => {
    const { store } = await setup();
    const keys = (await store.load())?.keys ?? [];
    const broken = memoryKeyRingStore();
    await broken.save({ keys: keys.filter((key) => key.status !== 'next') });
    await expect((async () => setup(broken))()).rejects.toThrow(KeyRingCorruptError);
    const swapped = memoryKeyRingStore();
    await swapped.save({
      keys: keys.map((key, index) => ({ ...key, kid: keys[1 - index]?.kid ?? '' })),
    });
    await expect((async () => setup(swapped))()).rejects.toThrow(KeyRingCorruptError);
  });
});
