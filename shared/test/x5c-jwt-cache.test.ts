import { OID_EKU_LANTERN_DEVICE_BINDING, X5cJwtVerifier, signJwt } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  T0,
  createEnrollmentToken,
  createTenant,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import type { TestDeviceKey } from '../../test/support/device-keys.js';
import { testDeviceKey } from '../../test/support/device-keys.js';

const TYPE = 'lantern-session+jwt';
const AUDIENCE = 'lantern-local';
const NOW = Math.floor(T0 / 1000);

interface Device {
  key: TestDeviceKey;
  x5c: string[];
}

let ca: TestCa;
let rootPem = '';
let first: Device;
let second: Device;

async function enroll(tenant: string, key = testDeviceKey()): Promise<Device> {
  const response = await ca.app.inject({
    method: 'POST',
    url: '/v1/devices/enroll',
    payload: { enrollmentToken: await createEnrollmentToken(ca, tenant), csr: await key.csr() },
  });
  if (response.statusCode !== 201) throw new Error(`enroll failed: ${response.body}`);
  const body = response.json() as { chain: string[]; root: string };
  rootPem = body.root;
  return { key, x5c: body.chain.map((pem) => pem.replace(/-----[^-]+-----|\s/g, '')) };
}

beforeAll(async () => {
  ca = await startTestCa();
  const tenant = await createTenant(ca, 'X5c Cache');
  first = await enroll(tenant);
  second = await enroll(tenant);
});
afterAll(async () => {
  await ca.close();
});

const verifier = () =>
  new X5cJwtVerifier({
    trustAnchors: [rootPem],
    typ: TYPE,
    audience: AUDIENCE,
    requiredEku: [OID_EKU_LANTERN_DEVICE_BINDING],
  });

let serial = 0;
const token = (device: Device, header: Record<string, unknown> = {}, exp = NOW + 3600) =>
  signJwt(
    { sub: `usr_${(serial += 1)}`, aud: AUDIENCE, iat: NOW, exp },
    { typ: TYPE, x5c: device.x5c, ...header },
    device.key.privateKey,
  );

const withSignatureOf = (target: string, source: string) =>
  `${target.slice(0, target.lastIndexOf('.'))}${source.slice(source.lastIndexOf('.'))}`;

describe('X5cJwtVerifier: the chain cached by header bytes', () => {
  it('still checks every signature once the header is cached', () => {
    const x5c = verifier();
    const valid = token(first);
    expect(x5c.verify(valid, NOW)).toMatchObject({ ok: true });
    // Same header, claims edited; and a signature moved over from another token of that header.
    const [header, , signature] = valid.split('.') as [string, string, string];
    const edited = `${header}.${Buffer.from(JSON.stringify({ sub: 'usr_x', aud: AUDIENCE, iat: NOW, exp: NOW + 9e5 })).toString('base64url')}.${signature}`;
    expect(x5c.verify(edited, NOW)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(x5c.verify(withSignatureOf(token(first), valid), NOW)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(x5c.verify(valid, NOW)).toMatchObject({ ok: true });
  });

  it('does not cache a chain until a token carrying it has verified', () => {
    const x5c = verifier();
    const forged = withSignatureOf(token(first), token(second));
    expect(x5c.verify(forged, NOW)).toEqual({ ok: false, reason: 'bad_signature' });
    // Nothing was kept from the forgery: the same header with a real signature verifies normally,
    // and a forgery after it is still refused.
    expect(x5c.verify(token(first), NOW)).toMatchObject({ ok: true });
    expect(x5c.verify(forged, NOW)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('stops accepting a cached chain once its certificate has expired', () => {
    const x5c = verifier();
    const verdict = x5c.verify(token(first), NOW);
    if (!verdict.ok) throw new Error(verdict.reason);
    const notAfter = Math.floor((verdict.path[0]?.notAfter.getTime() ?? 0) / 1000);
    const late = token(first, {}, notAfter + 7200);
    expect(x5c.verify(late, notAfter)).toMatchObject({ ok: true });
    expect(x5c.verify(late, notAfter + 1)).toMatchObject({ ok: false, reason: 'chain_expired' });
    expect(x5c.verify(token(first, {}, notAfter + 7200), notAfter + 60)).toMatchObject({
      ok: false,
      reason: 'chain_expired',
    });
  });

  it('gives each header its own chain, whichever was cached last', () => {
    const x5c = verifier();
    for (let round = 0; round < 3; round++) {
      for (const device of [first, second, first]) {
        const verdict = x5c.verify(token(device), NOW);
        if (!verdict.ok) throw new Error(verdict.reason);
        expect(Buffer.from(verdict.path[0]?.der ?? []).toString('base64')).toBe(device.x5c[0]);
      }
    }
  });

  it('refuses a header that only matches the cached one byte for byte after truncation', () => {
    const x5c = verifier();
    const valid = token(first);
    expect(x5c.verify(valid, NOW)).toMatchObject({ ok: true });
    // Written as Latin-1, U+0100 + c is the byte c: a byte comparison must not be fooled by it,
    // nor by the one-byte U+0080 + c.
    const at = 40;
    const char = valid.charCodeAt(at);
    const swap = (code: number) =>
      `${valid.slice(0, at)}${String.fromCharCode(code)}${valid.slice(at + 1)}`;
    expect(x5c.verify(swap(0x100 | char), NOW)).toMatchObject({ ok: false });
    expect(x5c.verify(swap(0x80 | char), NOW)).toMatchObject({ ok: false });
    expect(x5c.verify(swap(char), NOW)).toMatchObject({ ok: true });
  });

  it('checks the header of a token signed by the same key with another header', () => {
    const x5c = verifier();
    expect(x5c.verify(token(first), NOW)).toMatchObject({ ok: true });
    expect(x5c.verify(token(first, { typ: 'JWT' }), NOW)).toEqual({
      ok: false,
      reason: 'wrong_type',
    });
    expect(x5c.verify(token(first, { jku: 'https://evil.test/jwks' }), NOW)).toMatchObject({
      ok: false,
      reason: 'header_not_allowed',
    });
    // The same key under a chain it was never certified with.
    expect(x5c.verify(token({ key: first.key, x5c: second.x5c }), NOW)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
  });
});
