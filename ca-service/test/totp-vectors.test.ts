import type { TotpAlgorithm, TotpParameters } from '@lantern/shared';
import {
  base32Decode,
  base32Encode,
  hotp,
  totpAt,
  totpStep,
  verifyHotp,
  verifyTotp,
} from '@lantern/shared';
import { authenticator } from 'otplib';
import { describe, expect, it } from 'vitest';
import { loadOtpVectors } from '../../test/support/otp-vectors.js';
import { otpauthUri } from '../src/mfa/totp.js';

/** The shared algorithm the CA verifies codes with, against the RFC vectors, plus the CA's URI. */
const vectors = loadOtpVectors();
const ALGORITHMS: readonly TotpAlgorithm[] = ['SHA1', 'SHA256', 'SHA512'];

const params = (algorithm: TotpAlgorithm): TotpParameters => ({
  secret: Buffer.from(vectors.totp.secrets_ascii[algorithm], 'ascii'),
  algorithm,
  digits: vectors.totp.digits,
  period: vectors.totp.period,
  t0: vectors.totp.t0,
});

const otherCode = (code: string) => code.slice(0, -1) + String((Number(code.at(-1)) + 1) % 10);

describe('RFC 6238 TOTP vectors (SHA1, SHA256, SHA512, 8 digits)', () => {
  const cases = vectors.totp.cases.flatMap((c) =>
    ALGORITHMS.map((algorithm) => [c.time, algorithm, c[algorithm]] as const),
  );
  expect(cases).toHaveLength(18);

  it.each(cases)('T=%i %s → %s passes verifyTotp at that time', (time, algorithm, code) => {
    const p = params(algorithm);
    expect(totpAt(p, time)).toBe(code);
    expect(verifyTotp(p, code, time, { window: 0 })).toEqual({
      ok: true,
      step: Math.floor(time / 30),
    });
    expect(verifyTotp(p, otherCode(code), time, { window: 0 })).toEqual({
      ok: false,
      reason: 'invalid',
    });
  });

  it.each(cases)(
    'T=%i %s: the code is refused two steps away and once used',
    (time, algorithm, code) => {
      const p = params(algorithm);
      const step = totpStep(p, time);
      expect(verifyTotp(p, code, time + 60, { window: 1 })).toMatchObject({ ok: false });
      if (time >= 60)
        expect(verifyTotp(p, code, time - 60, { window: 1 })).toMatchObject({ ok: false });
      expect(verifyTotp(p, code, time + 30, { window: 1 })).toEqual({ ok: true, step });
      expect(verifyTotp(p, code, time, { window: 1, lastUsedStep: step })).toEqual({
        ok: false,
        reason: 'replayed',
      });
    },
  );
});

describe('RFC 4226 HOTP vectors', () => {
  const secret = Buffer.from(vectors.hotp.secret_ascii, 'ascii');
  const codes = vectors.hotp.codes_by_counter.map((code, counter) => [counter, code] as const);

  it.each(codes)('counter %i → %s', (counter, code) => {
    expect(hotp(secret, counter, vectors.hotp.digits)).toBe(code);
    expect(verifyHotp(secret, code, counter, { digits: 6 })).toBe(counter);
    expect(verifyHotp(secret, otherCode(code), counter, { digits: 6 })).toBeNull();
  });

  it('finds a counter ahead within the look-ahead window, and only there', () => {
    expect(verifyHotp(secret, '520489', 0, { digits: 6, lookAhead: 9 })).toBe(9);
    expect(verifyHotp(secret, '520489', 0, { digits: 6, lookAhead: 8 })).toBeNull();
    expect(verifyHotp(secret, '52048', 0, { digits: 6, lookAhead: 9 })).toBeNull();
    expect(verifyHotp(secret, '52048x', 0, { digits: 6, lookAhead: 9 })).toBeNull();
  });
});

describe('secrets and URIs as authenticator apps read them', () => {
  it('base32 round-trips (RFC 4648 test vectors) and accepts what people type', () => {
    const rfc: [string, string][] = [
      ['', ''],
      ['f', 'MY'],
      ['fo', 'MZXQ'],
      ['foo', 'MZXW6'],
      ['foob', 'MZXW6YQ'],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI'],
    ];
    for (const [plain, encoded] of rfc) {
      expect(base32Encode(Buffer.from(plain))).toBe(encoded);
      expect(base32Decode(encoded).toString()).toBe(plain);
    }
    expect(base32Decode('mzxw 6ytb oi======').toString()).toBe('foobar');
    expect(() => base32Decode('MZXW1')).toThrow(TypeError);
  });

  it('computes the same codes as otplib (Google Authenticator compatible) for the secret we hand out', () => {
    const secret = Buffer.from('0123456789abcdef0123', 'ascii');
    const at = Date.UTC(2026, 10, 23, 10, 0, 15);
    const theirs = authenticator.clone({ epoch: at }).generate(base32Encode(secret));
    expect(totpAt({ secret, algorithm: 'SHA1', digits: 6, period: 30 }, at / 1000)).toBe(theirs);
  });

  it('writes an otpauth:// URI with every parameter', () => {
    const uri = new URL(
      otpauthUri({
        issuer: 'Lantern',
        account: 'amina@hillside',
        secret: Buffer.from('12345678901234567890'),
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
      }),
    );
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Lantern:amina@hillside');
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      secret: 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ',
      issuer: 'Lantern',
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
  });
});
