import { buildCsrPem } from '@lantern/shared';
import { ECDH, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openssl } from '../../test/support/processes.js';
import { testDeviceKey } from '../../test/support/device-keys.js';
import { parseDeviceCsr } from '../src/enrollment/csr.js';
import { CsrInvalidError, CsrSignatureInvalidError } from '../src/errors.js';
import { fromPem, toPem } from '@lantern/shared';

const dir = mkdtempSync(join(tmpdir(), 'lantern-csr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const asCsrPem = (der: Uint8Array): string => toPem(der, 'CERTIFICATE REQUEST');
const derOf = (pem: string): Buffer => fromPem(pem, 'CERTIFICATE REQUEST');

describe('parseDeviceCsr reads PKCS#10 with the strict DER reader', () => {
  it('accepts a P-256 request and returns the canonical SPKI of its key', async () => {
    const key = testDeviceKey();
    const parsed = parseDeviceCsr(await key.csr());
    expect(parsed.subjectPublicKeyInfo).toEqual(
      key.publicKey.export({ type: 'spki', format: 'der' }),
    );
  });

  it('accepts a request made by openssl', () => {
    const keyFile = join(dir, 'k.pem');
    const csrFile = join(dir, 'r.csr');
    const made = openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-subj',
      '/CN=tablet-7/O=Hillside',
      '-out',
      csrFile,
    ]);
    expect(made.status, made.stderr).toBe(0);
    const parsed = parseDeviceCsr(readFileSync(csrFile, 'utf8'));
    expect(parsed.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('re-encodes a compressed-point key as the uncompressed SPKI the certificate carries', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const point = spki.subarray(spki.length - 65);
    const compressed = ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed');
    const compressedSpki = Buffer.concat([
      Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
      compressed as Buffer,
    ]);
    const pem = await buildCsrPem({
      commonName: 'compressed',
      subjectPublicKeyInfo: compressedSpki,
      sign: (data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'der' }),
    });
    expect(derOf(pem).includes(compressedSpki)).toBe(true);
    expect(parseDeviceCsr(pem).subjectPublicKeyInfo).toEqual(spki);
  });

  it('refuses a key whose point is not on the curve as csr_invalid', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    spki[spki.length - 1] = (spki[spki.length - 1] ?? 0) ^ 0x01;
    const pem = await buildCsrPem({
      commonName: 'off curve',
      subjectPublicKeyInfo: spki,
      sign: (data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'der' }),
    });
    expect(() => parseDeviceCsr(pem)).toThrow(/public key cannot be decoded/);
  });

  it('refuses a non-minimal length, trailing bytes and a truncated request as csr_invalid', async () => {
    const der = derOf(await testDeviceKey().csr());
    expect(der[1]).toBe(0x81);
    const longForm = Buffer.concat([Buffer.from([0x30, 0x82, 0x00]), der.subarray(2)]);
    const trailing = Buffer.concat([der, Buffer.from([0x00])]);
    const truncated = der.subarray(0, der.length - 1);
    for (const bad of [longForm, trailing, truncated]) {
      expect(() => parseDeviceCsr(asCsrPem(bad))).toThrow(CsrInvalidError);
    }
    expect(parseDeviceCsr(asCsrPem(der)).publicKey.asymmetricKeyType).toBe('ec');
  });

  it('refuses a request whose signed info was changed after signing', async () => {
    const der = derOf(await testDeviceKey().csr());
    const at = der.indexOf(Buffer.from('test device'));
    der[at] = 'b'.charCodeAt(0);
    expect(() => parseDeviceCsr(asCsrPem(der))).toThrow(CsrSignatureInvalidError);
  });
});
