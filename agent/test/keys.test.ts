import { createHash, verify } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  DataKeyDestroyedError,
  DeviceKeyExistsError,
  KeyUnavailableError,
  SealedDataInvalidError,
} from '../src/errors.js';
import { DataKey } from '../src/keys/data-key.js';
import { FileDeviceKeyStore } from '../src/keys/file-device-key-store.js';
import { FilePlatformSecret } from '../src/keys/file-platform-secret.js';
import { useTempDirs } from './support/temp-dir.js';

const tempDir = useTempDirs();
const posix = process.platform !== 'win32';

async function dataKeyIn(dir: string): Promise<DataKey> {
  return DataKey.loadOrCreate(new FilePlatformSecret(join(dir, 'data-key')));
}

describe('data key', () => {
  it('is created once, stored 0600, and loads back as the same key', async () => {
    const dir = tempDir();
    const secret = new FilePlatformSecret(join(dir, 'data-key'));
    const created = await DataKey.loadOrCreate(secret);
    const again = await DataKey.loadOrCreate(secret);
    const loaded = await DataKey.load(secret);
    expect(again.id).toBe(created.id);
    expect(loaded.id).toBe(created.id);
    if (posix) expect(statSync(join(dir, 'data-key')).mode & 0o777).toBe(0o600);
    const sealed = created.seal('hunter2', 'verifiers/usr_1/password//sealed');
    expect(loaded.open(sealed, 'verifiers/usr_1/password//sealed').toString()).toBe('hunter2');
  });

  it('seals with a fresh nonce every time and never leaves the plaintext visible', async () => {
    const key = await dataKeyIn(tempDir());
    const first = key.seal('the same secret', 'aad');
    const second = key.seal('the same secret', 'aad');
    expect(first.equals(second)).toBe(false);
    expect(first.includes(Buffer.from('the same secret'))).toBe(false);
    expect(first[0]).toBe(1);
  });

  it('refuses a ciphertext moved to another row, altered, or sealed under another key', async () => {
    const key = await dataKeyIn(tempDir());
    const sealed = key.seal('secret of user 1', 'verifiers/usr_1/password//sealed');
    expect(() => key.open(sealed, 'verifiers/usr_2/password//sealed')).toThrow(
      SealedDataInvalidError,
    );
    const altered = Buffer.from(sealed);
    altered[altered.length - 20] = (altered[altered.length - 20] ?? 0) ^ 1;
    expect(() => key.open(altered, 'verifiers/usr_1/password//sealed')).toThrow(
      SealedDataInvalidError,
    );
    expect(() => key.open(sealed.subarray(0, 20), 'x')).toThrow(SealedDataInvalidError);

    const other = await dataKeyIn(tempDir());
    expect(() => other.open(sealed, 'verifiers/usr_1/password//sealed')).toThrow(
      /another data key/,
    );
  });

  it('crypto-shreds: after destroy nothing opens, here or after a reload', async () => {
    const dir = tempDir();
    const secret = new FilePlatformSecret(join(dir, 'data-key'));
    const key = await DataKey.loadOrCreate(secret);
    const sealed = key.seal('refresh token', 'sessions/ses_1/refresh_sealed');
    await key.destroy();
    await key.destroy();

    expect(existsSync(join(dir, 'data-key'))).toBe(false);
    expect(() => key.open(sealed, 'sessions/ses_1/refresh_sealed')).toThrow(DataKeyDestroyedError);
    expect(() => key.seal('more', 'x')).toThrow(DataKeyDestroyedError);
    await expect(DataKey.load(secret)).rejects.toThrow(DataKeyDestroyedError);
    await expect(DataKey.loadOrCreate(secret)).rejects.toThrow(DataKeyDestroyedError);
  });

  it('reports a missing, malformed or world-readable key file as key_unavailable', async () => {
    const dir = tempDir();
    const path = join(dir, 'data-key');
    await expect(DataKey.load(new FilePlatformSecret(path))).rejects.toThrow(KeyUnavailableError);
    writeFileSync(path, 'not json', { mode: 0o600 });
    await expect(DataKey.load(new FilePlatformSecret(path))).rejects.toThrow(KeyUnavailableError);
    if (posix) {
      writeFileSync(
        path,
        JSON.stringify({ version: 1, key: Buffer.alloc(32).toString('base64url') }),
      );
      chmodSync(path, 0o644);
      await expect(DataKey.load(new FilePlatformSecret(path))).rejects.toThrow(/readable by other/);
    }
  });
});

describe('file device key store', () => {
  it('signs ES256 in IEEE P1363 form, verifiable with the public key', async () => {
    const dir = tempDir();
    const keys = await FileDeviceKeyStore.generate(join(dir, 'device-key'), await dataKeyIn(dir));
    const data = Buffer.from('header.payload');
    const signature = keys.sign(data);
    expect(signature).toHaveLength(64);
    expect(
      verify('sha256', data, { key: keys.publicKey(), dsaEncoding: 'ieee-p1363' }, signature),
    ).toBe(true);
    expect(keys.algorithm).toBe('ES256');
    expect(keys.assurance).toBe('software');
  });

  it('exposes the public JWK and its RFC 7638 thumbprint', async () => {
    const dir = tempDir();
    const keys = await FileDeviceKeyStore.generate(join(dir, 'device-key'), await dataKeyIn(dir));
    const jwk = keys.publicJwk();
    expect(Object.keys(jwk).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(keys.thumbprint()).toBe(await calculateJwkThumbprint(jwk, 'sha256'));
    expect(keys.thumbprint()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('stores the key sealed, 0600, and loads the same key back', async () => {
    const dir = tempDir();
    const path = join(dir, 'device-key');
    const dataKey = await dataKeyIn(dir);
    const generated = await FileDeviceKeyStore.generate(path, dataKey);
    const stored = readFileSync(path);
    expect(stored.includes(Buffer.from('PRIVATE KEY'))).toBe(false);
    if (posix) expect(statSync(path).mode & 0o777).toBe(0o600);

    const loaded = await FileDeviceKeyStore.load(path, dataKey);
    expect(loaded.thumbprint()).toBe(generated.thumbprint());
    const data = Buffer.from('proof');
    expect(
      verify(
        'sha256',
        data,
        { key: generated.publicKey(), dsaEncoding: 'ieee-p1363' },
        loaded.sign(data),
      ),
    ).toBe(true);
  });

  it('never replaces an existing key', async () => {
    const dir = tempDir();
    const path = join(dir, 'device-key');
    const dataKey = await dataKeyIn(dir);
    const first = await FileDeviceKeyStore.generate(path, dataKey);
    const before = createHash('sha256').update(readFileSync(path)).digest('hex');
    await expect(FileDeviceKeyStore.generate(path, dataKey)).rejects.toThrow(DeviceKeyExistsError);
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(before);
    expect((await FileDeviceKeyStore.load(path, dataKey)).thumbprint()).toBe(first.thumbprint());
  });

  it('cannot be loaded once the data key is shredded, and stops signing once destroyed', async () => {
    const dir = tempDir();
    const path = join(dir, 'device-key');
    const dataKey = await dataKeyIn(dir);
    const keys = await FileDeviceKeyStore.generate(path, dataKey);
    await dataKey.destroy();
    await expect(FileDeviceKeyStore.load(path, dataKey)).rejects.toThrow(DataKeyDestroyedError);

    await keys.destroy();
    expect(existsSync(path)).toBe(false);
    expect(() => keys.sign(Buffer.from('x'))).toThrow(KeyUnavailableError);
    await expect(FileDeviceKeyStore.load(path, dataKey)).rejects.toThrow(KeyUnavailableError);
  });
});
