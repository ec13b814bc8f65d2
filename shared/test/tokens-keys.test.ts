import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UnusableKeyError, importJwks, jwkThumbprint, publicJwk, signJwt } from '@lantern/shared';

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('publicJwk', () => {
  it('publishes only public members, even from a private key', () => {
    const jwk = publicJwk(p256.privateKey);
    expect(Object.keys(jwk).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig', alg: 'ES256' });
    expect(jwk).toEqual(publicJwk(p256.publicKey));
  });

  it('names the key by its RFC 7638 thumbprint', () => {
    // The worked example of RFC 7638 §3.1 is RSA; this is the same computation on its EC form.
    const jwk = publicJwk(p256.publicKey);
    expect(jwk.kid).toBe(
      jwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.kty === 'EC' ? jwk.y : '' }),
    );
    expect(jwk.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses keys Lantern does not sign with', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => publicJwk(rsa.publicKey)).toThrow(UnusableKeyError);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    expect(() => publicJwk(p384.publicKey)).toThrow(UnusableKeyError);
  });
});

describe('importJwks', () => {
  const jwk = publicJwk(p256.publicKey);

  it('imports P-256 signing keys by kid', () => {
    const set = importJwks({ keys: [jwk] });
    expect([...set.keys()]).toEqual([jwk.kid]);
    expect(set.get(jwk.kid)?.type).toBe('public');
  });

  it('refuses a key set that leaks private parts', () => {
    const leaked = { ...p256.privateKey.export({ format: 'jwk' }), kid: 'leaked' };
    expect(() => importJwks({ keys: [jwk, leaked] })).toThrow(/private member `d`/);
    expect(() => importJwks({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] })).toThrow(
      UnusableKeyError,
    );
  });

  it('refuses what is not a key set, and a kid listed twice', () => {
    for (const input of [null, 'keys', {}, { keys: {} }, { keys: ['x'] }, { keys: [null] }]) {
      expect(() => importJwks(input)).toThrow(UnusableKeyError);
    }
    expect(() => importJwks({ keys: [jwk, { ...jwk }] })).toThrow(/twice/);
  });

  it('skips keys it cannot use instead of failing the whole set', () => {
    const { kid: _kid, ...withoutKid } = jwk;
    const set = importJwks({
      keys: [
        { ...jwk, kid: 'enc', use: 'enc' },
        { ...jwk, kid: 'rs', alg: 'RS256' },
        { ...jwk, kid: 'ops', key_ops: ['encrypt'] },
        { ...jwk, kid: 'off-curve', y: jwk.kty === 'EC' ? jwk.x : '' },
        { kty: 'RSA', kid: 'rsa', n: 'AQAB', e: 'AQAB' },
        withoutKid,
        jwk,
      ],
    });
    expect([...set.keys()]).toEqual([jwk.kid]);
  });
});

describe('signJwt', () => {
  it('signs ES256 with the alg taken from the key', () => {
    const token = signJwt({ exp: 1 }, { kid: 'k' }, p256.privateKey);
    const [header, , signature] = token.split('.');
    expect(JSON.parse(Buffer.from(header ?? '', 'base64url').toString())).toEqual({
      alg: 'ES256',
      kid: 'k',
    });
    expect(Buffer.from(signature ?? '', 'base64url')).toHaveLength(64);
  });

  it('refuses public keys, other curves and a caller-chosen alg', () => {
    expect(() => signJwt({}, {}, p256.publicKey)).toThrow(UnusableKeyError);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    expect(() => signJwt({}, {}, p384.privateKey)).toThrow(UnusableKeyError);
    expect(() => signJwt({}, { alg: 'HS256' } as never, p256.privateKey)).toThrow(/alg/);
  });
});
