import { KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createJwtVerifier, epochSeconds, importJwks, manualClock } from '@lantern/shared';
import { fileKeyRingStore } from '../src/tokens/file-key-ring-store.js';
import { openKeyRing } from '../src/tokens/key-ring.js';
import { KeyRingCorruptError, KeyRingLockedError } from '../src/errors.js';

const PASSPHRASE = 'correct horse battery staple';
const clock = manualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
let directory: string;
let path: string;

const open = (passphrase = PASSPHRASE) =>
  openKeyRing({ clock, store: fileKeyRingStore(path, passphrase), maxTokenLifetimeMs: 3_600_000 });

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'lantern-keys-'));
  path = join(directory, 'keys', 'token-keys.json');
});

afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

describe('file key ring store', () => {
  it('has nothing to load before the first save', async () => {
    expect(await fileKeyRingStore(path, PASSPHRASE).load()).toBeNull();
  });

  it('reloads the same kids, statuses and times', async () => {
    const ring = await open();
    await ring.rotate();
    const now = epochSeconds(clock);
    const token = ring.sign({ sub: 'usr_1', exp: now + 600 });
    const reopened = await open();
    expect(reopened.activeKid).toBe(ring.activeKid);
    expect(reopened.jwks()).toEqual(ring.jwks());
    const verdict = createJwtVerifier({ keys: importJwks(reopened.jwks()) }).verify(token, now);
    expect(verdict.ok).toBe(true);
    const stored = (await fileKeyRingStore(path, PASSPHRASE).load())?.keys ?? [];
    expect(stored.map(({ privateKey: _key, ...rest }) => rest)).toMatchObject([
      { status: 'retired', createdAt: clock.now(), retiredAt: clock.now() },
      { status: 'active', activatedAt: clock.now() },
      { status: 'next' },
    ]);
  });

  it('writes sealed keys only (Argon2id, AES-256-GCM), to a file only its owner can read, with no temporary left', async () => {
    await (await open()).rotate();
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('"lantern-key/2$argon2id$');
    expect(text).not.toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    expect(text).not.toContain('-----BEGIN PRIVATE KEY-----');
    expect(text).not.toContain('"d"');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(directory, 'keys'))).toEqual(['token-keys.json']);
  });

  it('fails clearly with the wrong passphrase, or none', async () => {
    await open();
    await expect((async () => open('not the passphrase'))()).rejects.toThrow(KeyRingLockedError);
    await expect((async () => open('not the passphrase'))()).rejects.toThrow(
      /could not be decrypted/,
    );
    expect(() => fileKeyRingStore(path, '')).toThrow(KeyRingLockedError);
  });

  it('refuses a file that is not a key ring', async () => {
    const corrupt = (contents: string) => {
      writeFileSync(path, contents);
      return () => open();
    };
    await open();
    const valid = readFileSync(path, 'utf8');
    await expect(corrupt('{ not json')()).rejects.toThrow(KeyRingCorruptError);
    await expect(corrupt('{"format":"something-else","keys":[]}')()).rejects.toThrow(
      KeyRingCorruptError,
    );
    await expect(
      corrupt(valid.replace('"status": "next"', '"status": "paused"'))(),
    ).rejects.toThrow(KeyRingCorruptError);
    await expect(
      corrupt(valid.replace(/"createdAt": "[^"]+"/, '"createdAt": "yesterday"'))(),
    ).rejects.toThrow(KeyRingCorruptError);
  });

  it('refuses an unencrypted key put in the file', async () => {
    await open();
    const file = JSON.parse(readFileSync(path, 'utf8')) as { keys: { privateKey: string }[] };
    const plain = (await fileKeyRingStore(path, PASSPHRASE).load())?.keys[0]?.privateKey;
    const first = file.keys[0];
    if (!(plain instanceof KeyObject) || !first) throw new Error('no key');
    first.privateKey = plain.export({ type: 'pkcs8', format: 'pem' }) as string;
    writeFileSync(path, JSON.stringify(file));
    await expect((async () => open())()).rejects.toThrow(/not encrypted/);
  });
});
