import 'reflect-metadata';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import { base64urlDecode, base64urlEncode } from '../src/crypto/base64url.js';
import { certificateFingerprint } from '../src/crypto/certificate-fingerprint.js';
import { p256JwkThumbprint } from '../src/crypto/p256-jwk-thumbprint.js';
import { sha256 } from '../src/crypto/sha256.js';
import { verifyEd25519 } from '../src/crypto/verify-ed25519.js';
import { verifyEs256 } from '../src/crypto/verify-es256.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('sha256', () => {
  it('matches the FIPS 180-2 "abc" vector for bytes and strings', () => {
    const expected = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(hex(sha256('abc'))).toBe(expected);
    expect(hex(sha256(new TextEncoder().encode('abc')))).toBe(expected);
  });
});

describe('base64url', () => {
  it('round-trips bytes, including views into larger buffers', () => {
    const backing = new Uint8Array([9, 0xfb, 0xff, 0xbf, 9]);
    const view = backing.subarray(1, 4);
    expect(base64urlEncode(view)).toBe('-_-_');
    expect(hex(base64urlDecode('-_-_'))).toBe('fbffbf');
    expect(base64urlEncode('hi')).toBe('aGk');
  });

  it('rejects padding, the standard alphabet, impossible lengths and stray bits', () => {
    for (const bad of ['aGk=', 'a+b/', 'a', 'aGl', 'aG k', 'AB']) {
      expect(() => base64urlDecode(bad), bad).toThrow(TypeError);
    }
  });
});

describe('p256JwkThumbprint', () => {
  it('agrees with jose for P-256 keys, public or private', async () => {
    for (let i = 0; i < 5; i++) {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const expected = await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as never);
      expect(p256JwkThumbprint(publicKey)).toBe(expected);
      expect(p256JwkThumbprint(privateKey)).toBe(expected);
    }
  });

  it('refuses other key types', () => {
    expect(() => p256JwkThumbprint(generateKeyPairSync('ed25519').publicKey)).toThrow(TypeError);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    expect(() => p256JwkThumbprint(p384)).toThrow(TypeError);
  });
});

describe('certificateFingerprint', () => {
  it('is the lower-case hex SHA-256 of the DER, as @peculiar/x509 computes it', async () => {
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ]);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=fingerprint',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    });
    const der = new Uint8Array(cert.rawData);
    const theirs = Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex');
    expect(certificateFingerprint(der)).toBe(theirs);
    expect(certificateFingerprint(der)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('verifyEs256 / verifyEd25519', () => {
  const data = new TextEncoder().encode('lantern');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');

  it('verifies both ECDSA encodings and rejects the other one', () => {
    const der = sign('sha256', data, ec.privateKey);
    const raw = sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
    expect(verifyEs256(ec.publicKey, data, der, 'der')).toBe(true);
    expect(verifyEs256(ec.publicKey, data, raw, 'ieee-p1363')).toBe(true);
    expect(verifyEs256(ec.publicKey, data, raw, 'der')).toBe(false);
    expect(verifyEs256(ec.publicKey, data, der, 'ieee-p1363')).toBe(false);
  });

  it('answers false, without throwing, for wrong keys and garbage', () => {
    const raw = sign('sha256', data, { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
    expect(verifyEs256(ed.publicKey, data, raw, 'ieee-p1363')).toBe(false);
    expect(verifyEs256(ec.publicKey, data, new Uint8Array(0), 'der')).toBe(false);
    expect(verifyEs256(ec.publicKey, data, new Uint8Array(200), 'der')).toBe(false);
    const edSig = sign(null, data, ed.privateKey);
    expect(verifyEd25519(ed.publicKey, data, edSig)).toBe(true);
    expect(verifyEd25519(ec.publicKey, data, edSig)).toBe(false);
    expect(verifyEd25519(ed.publicKey, data, edSig.subarray(1))).toBe(false);
    expect(verifyEd25519(ed.publicKey, createHash('sha256').update(data).digest(), edSig)).toBe(
      false,
    );
  });
});
