import { describe, expect, it } from 'vitest';
import { passwordPolicy, pinPolicy } from '../src/passwords/credential-policy.js';

describe('password policy', () => {
  const policy = passwordPolicy();

  it.each([
    ['eight characters', 'abcdefgh'],
    ['spaces and symbols', 'a b c d !'],
    ['non-Latin', 'пароль-пароль'],
    ['emoji counted as one character each', '\u{1F600}'.repeat(8)],
    ['exactly 1024 bytes', 'x'.repeat(1024)],
  ])('accepts %s', (_label, secret) => {
    expect(policy.check(secret)).toEqual({ ok: true });
  });

  it.each([
    ['seven characters', 'abcdefg', 'too_short'],
    ['seven emoji (14 UTF-16 units)', '\u{1F600}'.repeat(7), 'too_short'],
    ['empty', '', 'too_short'],
    ['1025 bytes', 'x'.repeat(1025), 'too_long'],
    ['over 1024 bytes in multi-byte characters', '\u00e9'.repeat(513), 'too_long'],
    ['a number', 12345678, 'not_a_string'],
    ['null', null, 'not_a_string'],
  ])('refuses %s', (_label, secret, reason) => {
    expect(policy.check(secret)).toEqual({ ok: false, reason });
  });

  it('never raises the byte bound above what the hasher accepts', () => {
    expect(passwordPolicy({ maxBytes: 10_000 }).check('x'.repeat(2000))).toEqual({
      ok: false,
      reason: 'too_long',
    });
    expect(passwordPolicy({ minLength: 12 }).check('abcdefghijk')).toEqual({
      ok: false,
      reason: 'too_short',
    });
  });
});

describe('PIN policy', () => {
  const policy = pinPolicy();

  it.each(['2580', '1357', '19283746', '0472', '1123'])('accepts %s', (pin) => {
    expect(policy.check(pin)).toEqual({ ok: true });
  });

  it.each([
    ['123', 'too_short'],
    ['', 'too_short'],
    ['123456789', 'too_long'],
    ['12a4', 'not_digits'],
    [' 2580', 'not_digits'],
    ['\u0661\u0662\u0663\u0664', 'not_digits'],
    ['0000', 'too_predictable'],
    ['1234', 'too_predictable'],
    ['9876', 'too_predictable'],
    ['7890', 'too_predictable'],
    ['55555555', 'too_predictable'],
    [1234, 'not_a_string'],
  ])('refuses %s', (pin, reason) => {
    expect(policy.check(pin)).toEqual({ ok: false, reason });
  });

  it('takes its bounds from options', () => {
    const six = pinPolicy({ minDigits: 6, maxDigits: 6, refusePredictable: false });
    expect(six.check('123456')).toEqual({ ok: true });
    expect(six.check('2580')).toEqual({ ok: false, reason: 'too_short' });
    expect(six.kind).toBe('pin');
    expect(policy.kind).toBe('pin');
    expect(passwordPolicy().kind).toBe('password');
  });
});
