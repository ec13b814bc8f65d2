import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualClock } from '@lantern/shared';
import { afterAll, describe, expect, it } from 'vitest';
import { initDataDir } from '../src/data-dir/init-data-dir.js';
import { openCa } from '../src/data-dir/open-ca.js';
import { dataDirPaths } from '../src/data-dir/paths.js';
import { KeyFileCorruptError, KeyPassphraseWrongError } from '../src/errors.js';
import { openPrivateKey, sealPrivateKey } from '../src/pki/key-file.js';
import { fileSigner } from '../src/pki/signer.js';
import { fileKeyRingStore } from '../src/tokens/file-key-ring-store.js';

/** Issue 15: CA key files at rest under a modern KDF, the old PBKDF2 format read and re-wrapped. */
const work = mkdtempSync(join(tmpdir(), 'lantern-key-files-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PASSPHRASE = 'the online CA passphrase';
const clock = manualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
const newKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const same = (a: KeyObject, b: KeyObject) =>
  a.export({ format: 'jwk' }).d === b.export({ format: 'jwk' }).d;
/** What this CA wrote before: OpenSSL's PBES2 (PBKDF2-SHA256, 2048 iterations, AES-256-CBC). */
const legacyPem = (key: KeyObject, passphrase = PASSPHRASE) =>
  key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }) as string;

describe('CA key files at rest', () => {
  it('a wrong passphrase is key_passphrase_wrong, for the issuing key and a whole data dir', async () => {
    const path = join(work, 'wrong.key');
    writeFileSync(path, sealPrivateKey(newKey(), PASSPHRASE));
    expect(() => fileSigner(path, 'not the passphrase')).toThrow(KeyPassphraseWrongError);
    const dataDir = join(work, 'ca');
    await initDataDir({
      dataDir,
      clock,
      publicUrl: 'http://ca.test',
      passphrase: PASSPHRASE,
      root: { dir: join(work, 'root'), passphrase: 'the root passphrase' },
    });
    await expect(
      openCa({ dataDir, clock, passphrase: 'not the passphrase' }),
    ).rejects.toMatchObject({ code: 'key_passphrase_wrong' });
    // The root key has its own passphrase: the CA's does not open it.
    expect(() =>
      openPrivateKey(readFileSync(join(work, 'root', 'root.key.pem')), PASSPHRASE),
    ).toThrow(KeyPassphraseWrongError);
  });

  it('a tampered file is key_file_corrupt: lowered KDF cost, another salt, a flipped byte, plain PEM', () => {
    const sealed = sealPrivateKey(newKey(), PASSPHRASE);
    const cheaper = sealed.replace('m=47104,t=1,p=1', 'm=8,t=1,p=1');
    // The check value no longer matches the cheaper derivation: it reads as a wrong passphrase
    // or as damage, never as the key.
    expect(() => openPrivateKey(cheaper, PASSPHRASE)).toThrow(/does not open|damaged/);
    const parts = sealed.trim().split('$');
    const ciphertext = Buffer.from(parts[6] ?? '', 'base64url');
    ciphertext[0] = (ciphertext[0] ?? 0) ^ 1;
    parts[6] = ciphertext.toString('base64url');
    expect(() => openPrivateKey(parts.join('$'), PASSPHRASE)).toThrow(KeyFileCorruptError);
    const huge = sealed.replace('m=47104', 'm=99999999');
    expect(() => openPrivateKey(huge, PASSPHRASE)).toThrow(KeyFileCorruptError);
    const plain = newKey().export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(() => openPrivateKey(plain, PASSPHRASE)).toThrow(KeyFileCorruptError);
  });

  it('writes Argon2id + AES-256-GCM (format 2), never PBKDF2 PEM', async () => {
    const dataDir = join(work, 'fresh');
    await initDataDir({
      dataDir,
      clock,
      publicUrl: 'http://ca.test',
      passphrase: PASSPHRASE,
      root: { dir: join(work, 'fresh-root'), passphrase: 'the root passphrase' },
    });
    const paths = dataDirPaths(dataDir);
    for (const file of [paths.issuingKey, join(work, 'fresh-root', 'root.key.pem')]) {
      const text = readFileSync(file, 'utf8');
      expect(text).toMatch(/^lantern-key\/2\$argon2id\$m=47104,t=1,p=1\$/);
      expect(text).not.toContain('BEGIN ENCRYPTED PRIVATE KEY');
    }
    expect(readFileSync(paths.tokenKeys, 'utf8')).toContain('lantern-key/2$argon2id$');
  });

  it('reads the old PBKDF2 format and writes it back in format 2 on open', async () => {
    const dataDir = join(work, 'old');
    await initDataDir({
      dataDir,
      clock,
      publicUrl: 'http://ca.test',
      passphrase: PASSPHRASE,
      root: { dir: join(work, 'old-root'), passphrase: 'the root passphrase' },
    });
    const paths = dataDirPaths(dataDir);
    // Turn the data dir into one written by the previous version.
    const issuing = openPrivateKey(readFileSync(paths.issuingKey), PASSPHRASE).privateKey;
    writeFileSync(paths.issuingKey, legacyPem(issuing), { mode: 0o600 });
    const ring = JSON.parse(readFileSync(paths.tokenKeys, 'utf8')) as {
      keys: { privateKey: string }[];
    };
    const tokenKeys = ring.keys.map((key) => openPrivateKey(key.privateKey, PASSPHRASE).privateKey);
    ring.keys.forEach((key, index) => {
      key.privateKey = legacyPem(tokenKeys[index] as KeyObject);
    });
    writeFileSync(paths.tokenKeys, JSON.stringify(ring), { mode: 0o600 });
    expect(() => fileSigner(paths.issuingKey, 'not the passphrase')).toThrow(
      KeyPassphraseWrongError,
    );

    const ca = await openCa({ dataDir, clock, passphrase: PASSPHRASE });
    await ca.close();
    const rewrapped = readFileSync(paths.issuingKey, 'utf8');
    expect(rewrapped).toMatch(/^lantern-key\/2\$argon2id\$/);
    expect(statSync(paths.issuingKey).mode & 0o777).toBe(0o600);
    expect(same(openPrivateKey(rewrapped, PASSPHRASE).privateKey, issuing)).toBe(true);
    const ringText = readFileSync(paths.tokenKeys, 'utf8');
    expect(ringText).not.toContain('BEGIN ENCRYPTED PRIVATE KEY');
    const reloaded = (await fileKeyRingStore(paths.tokenKeys, PASSPHRASE).load())?.keys ?? [];
    expect(
      reloaded.map((key, index) =>
        same(key.privateKey as KeyObject, tokenKeys[index] as KeyObject),
      ),
    ).toEqual(tokenKeys.map(() => true));
    // And the old PEM was what it claimed: OpenSSL opens it with the passphrase.
    expect(
      same(createPrivateKey({ key: legacyPem(issuing), passphrase: PASSPHRASE }), issuing),
    ).toBe(true);
  });
});
