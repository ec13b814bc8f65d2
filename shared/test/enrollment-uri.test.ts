import { describe, expect, it } from 'vitest';
import { encodeEnrollmentUri, parseEnrollmentUri } from '../src/enrollment/enrollment-uri.js';

const FP = 'ab'.repeat(32);

describe('enrollment URI (lantern-enroll:?ca=…&token=…&fp=…)', () => {
  it('has exactly the shape the admin console renders, and reads back what was encoded', () => {
    const token = 'let_01J9Z3YQ8M6W4Q9V2K7T5R3N1D.a+b/c=d&e f';
    const uri = encodeEnrollmentUri({
      caUrl: 'https://ca.example:8443/x',
      token,
      rootFingerprint: FP,
    });
    expect(uri).toBe(
      `lantern-enroll:?ca=${encodeURIComponent('https://ca.example:8443/x')}&token=${encodeURIComponent(token)}&fp=${FP}`,
    );
    expect(parseEnrollmentUri(uri)).toEqual({
      ok: true,
      fields: { caUrl: 'https://ca.example:8443/x', token, rootFingerprint: FP },
    });
  });

  it('takes the fingerprint in upper case and ignores fields it does not know', () => {
    const uri = `lantern-enroll:?ca=http%3A%2F%2F127.0.0.1%3A8080&token=t&fp=${FP.toUpperCase()}&v=2`;
    expect(parseEnrollmentUri(uri)).toMatchObject({ ok: true, fields: { rootFingerprint: FP } });
  });

  it.each([
    ['https://ca.example/?token=t', 'starts with'],
    [`lantern-enroll:?ca=ftp%3A%2F%2Fx&token=t&fp=${FP}`, 'ca is not an http(s) URL'],
    [`lantern-enroll:?token=t&fp=${FP}`, 'ca is not an http(s) URL'],
    [`lantern-enroll:?ca=http%3A%2F%2Fx&fp=${FP}`, 'token is missing'],
    ['lantern-enroll:?ca=http%3A%2F%2Fx&token=t&fp=abc', 'fp is not a SHA-256 fingerprint'],
    [`lantern-enroll:?ca=http%3A%2F%2Fx&token=t&token=u&fp=${FP}`, '"token" appears twice'],
    [`lantern-enroll:?ca=http%3A%2F%2Fx&token=%E0%A4%A&fp=${FP}`, 'not percent-encoded'],
    [`lantern-enroll:?ca=${'a'.repeat(5000)}`, 'too long'],
  ])('refuses %s', (uri, reason) => {
    const verdict = parseEnrollmentUri(uri);
    expect(verdict.ok).toBe(false);
    expect(verdict.ok ? '' : verdict.reason).toContain(reason);
  });
});
