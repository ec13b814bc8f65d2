import type { DeviceSealedBox } from '@lantern/shared';
import {
  SealedBoxError,
  decryptForDevice,
  offlineTotpContext,
  openOfflineTotp,
  sealForDevice,
} from '@lantern/shared';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBoxError, passphraseSecretBox } from '../src/secrets/secret-box.js';

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });
const secret = Buffer.from('the TOTP seed, twenty', 'utf8');

describe('device sealed box (ECDH-ES P-256 + HKDF-SHA256 + AES-256-GCM)', () => {
  const device = p256();

  it('round-trips with the device key and the same context', () => {
    const box = sealForDevice(device.publicKey, secret, 'ctx-1');
    expect(box.alg).toBe('ECDH-ES+A256GCM');
    expect(box.epk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(Buffer.from(box.iv, 'base64url')).toHaveLength(12);
    expect(Buffer.from(box.tag, 'base64url')).toHaveLength(16);
    expect(Buffer.from(decryptForDevice(device.privateKey, box, 'ctx-1'))).toEqual(secret);
    // A fresh ephemeral key per seal: two boxes of one secret share nothing.
    const again = sealForDevice(device.publicKey, secret, 'ctx-1');
    expect(again.epk.x).not.toBe(box.epk.x);
    expect(again.ciphertext).not.toBe(box.ciphertext);
  });

  it('does not open with another key, in another context, or after tampering', () => {
    const box = sealForDevice(device.publicKey, secret, 'ctx-1');
    expect(() => decryptForDevice(p256().privateKey, box, 'ctx-1')).toThrow(SealedBoxError);
    expect(() => decryptForDevice(device.privateKey, box, 'ctx-2')).toThrow(SealedBoxError);
    const flip = (text: string) => {
      const bytes = Buffer.from(text, 'base64url');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      return bytes.toString('base64url');
    };
    const tampered: DeviceSealedBox[] = [
      { ...box, ciphertext: flip(box.ciphertext) },
      { ...box, tag: flip(box.tag) },
      { ...box, iv: flip(box.iv) },
      { ...box, epk: sealForDevice(device.publicKey, secret).epk },
    ];
    for (const bad of tampered) {
      expect(() => decryptForDevice(device.privateKey, bad, 'ctx-1')).toThrow(SealedBoxError);
    }
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['another alg', { alg: 'RSA-OAEP' }],
    ['a truncated tag', 'tag'],
    ['a point off the curve', 'epk'],
    ['padded base64', 'iv'],
  ])('refuses %s as SealedBoxError', (_label, change) => {
    const box = sealForDevice(device.publicKey, secret) as unknown as Record<string, unknown>;
    let bad: unknown = change;
    if (change === 'tag') bad = { ...box, tag: (box['tag'] as string).slice(0, 16) };
    if (change === 'epk') {
      bad = {
        ...box,
        epk: { ...(box['epk'] as object), y: Buffer.alloc(32, 1).toString('base64url') },
      };
    }
    if (change === 'iv') bad = { ...box, iv: `${box['iv'] as string}==` };
    if (typeof change === 'object' && change !== null) bad = { ...box, ...change };
    expect(() => decryptForDevice(device.privateKey, bad)).toThrow(SealedBoxError);
  });

  it('refuses keys that are not P-256', () => {
    const ed = generateKeyPairSync('ed25519');
    expect(() => sealForDevice(ed.publicKey, secret)).toThrow(TypeError);
    expect(() => sealForDevice(device.privateKey, secret)).toThrow(TypeError);
    const box = sealForDevice(device.publicKey, secret);
    expect(() => decryptForDevice(ed.privateKey, box)).toThrow(TypeError);
  });

  it('openOfflineTotp checks the payload and the grant it was sealed for', () => {
    const payload = {
      secret: 'GEZDGNBVGY3TQOJQ',
      algorithm: 'SHA1',
      digits: 6,
      period: 30,
      notBeforeStep: 7,
    };
    const box = sealForDevice(
      device.publicKey,
      Buffer.from(JSON.stringify(payload)),
      offlineTotpContext('grt_1'),
    );
    expect(openOfflineTotp(device.privateKey, box, 'grt_1')).toEqual(payload);
    expect(() => openOfflineTotp(device.privateKey, box, 'grt_2')).toThrow(SealedBoxError);
    const junk = sealForDevice(
      device.publicKey,
      Buffer.from(JSON.stringify({ ...payload, digits: 'six' })),
      offlineTotpContext('grt_1'),
    );
    expect(() => openOfflineTotp(device.privateKey, junk, 'grt_1')).toThrow(SealedBoxError);
  });
});

describe('secret box (at rest, passphrase-derived AES-256-GCM)', () => {
  const box = passphraseSecretBox('a passphrase', 'root-fingerprint');

  it('opens what it sealed for the same row only', () => {
    const sealed = box.seal(secret, 'totp:usr_1');
    expect(sealed).toMatch(
      /^lsb1\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/,
    );
    expect(sealed).not.toContain(secret.toString('base64url'));
    expect(box.open(sealed, 'totp:usr_1')).toEqual(secret);
    expect(() => box.open(sealed, 'totp:usr_2')).toThrow(SecretBoxError);
  });

  it('refuses a value sealed under another passphrase or installation, or cut short', () => {
    const sealed = box.seal(secret, 'row');
    expect(() => passphraseSecretBox('other', 'root-fingerprint').open(sealed, 'row')).toThrow(
      /another key/,
    );
    expect(() => passphraseSecretBox('a passphrase', 'other-root').open(sealed, 'row')).toThrow(
      /another key/,
    );
    const parts = sealed.split('.');
    const shortTag = [...parts.slice(0, 4), (parts[4] ?? '').slice(0, 6)].join('.');
    expect(() => box.open(shortTag, 'row')).toThrow(SecretBoxError);
    expect(() => box.open('plain', 'row')).toThrow(SecretBoxError);
  });
});
