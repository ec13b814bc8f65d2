import { randomBytes, scryptSync } from 'node:crypto';
import { verify as referenceVerify } from '@node-rs/argon2';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ARGON2ID_PARAMS, createPasswordHasher } from '../src/passwords/password-hasher.js';
import {
  formatScryptHash,
  needsRehash,
  parsePasswordHash,
} from '../src/passwords/password-hash-format.js';

// Cheap parameters keep the suite fast; the default cost is exercised where it matters.
const fast = createPasswordHasher({ params: { m: 1024, t: 1 } });
const PASSWORD = 'correct horse battery staple';

/** A hash as the CA wrote them before Argon2id (scrypt, N = 2^ln). */
function scryptHash(password: string, ln = 10): string {
  const salt = randomBytes(16);
  const key = scryptSync(Buffer.from(password.normalize('NFC')), salt, 32, {
    N: 2 ** ln,
    r: 8,
    p: 1,
  });
  return formatScryptHash({ ln, r: 8, p: 1 }, salt, key);
}

const flip = (text: string) => (text[0] === 'A' ? 'B' : 'A') + text.slice(1);
// 32 bytes leave 2 spare bits in the last character; setting one keeps the bytes the same.
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const respell = (hash: string) =>
  `${hash.slice(0, -1)}${ALPHABET[ALPHABET.indexOf(hash.at(-1) ?? 'A') | 1]}`;

describe('password hasher', () => {
  it('refuses a wrong password', async () => {
    const stored = await fast.hash(PASSWORD);
    expect(await fast.verify('correct horse battery stapl', stored)).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(await fast.verify('', stored)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('refuses a tampered Argon2id hash string', async () => {
    const stored = await fast.hash(PASSWORD);
    const [, , , , salt = '', hash = ''] = stored.split('$');
    const mismatching = [
      stored.replace('m=1024', 'm=1025'),
      stored.replace('t=1', 't=2'),
      stored.replace(salt, flip(salt)),
      stored.replace(hash, flip(hash)),
    ];
    for (const tampered of mismatching) {
      expect(await fast.verify(PASSWORD, tampered)).toEqual({ ok: false, reason: 'mismatch' });
    }
    const unreadable = [
      '',
      'not a hash',
      stored.replace('$argon2id$', '$argon2i$'),
      stored.replace('$argon2id$', '$argon2d$'),
      stored.replace('v=19', 'v=16'),
      stored.replace('m=1024', 'm=01024'),
      stored.replace('m=1024', 'm=4'),
      stored.replace('m=1024', 'm=999999999'),
      stored.replace('t=1', 't=0'),
      stored.replace('t=1', 't=100'),
      stored.replace('p=1', 'p=0'),
      stored.replace('m=1024,t=1,p=1', 'm=64,t=1,p=16'),
      stored.replace(hash, hash.slice(0, 10)),
      stored.replace(hash, `${hash}=`),
      stored.replace(hash, respell(hash)),
      `${stored}$extra`,
    ];
    for (const tampered of unreadable) {
      expect(await fast.verify(PASSWORD, tampered)).toEqual({
        ok: false,
        reason: 'malformed_hash',
      });
    }
  });

  it('refuses a stored hash that would take more memory than maxmem', async () => {
    const small = createPasswordHasher({ params: { m: 1024, t: 1 }, maxmem: 4 * 1024 * 1024 });
    const big = await createPasswordHasher({ params: { m: 8 * 1024, t: 1 } }).hash(PASSWORD);
    expect(await small.verify(PASSWORD, big)).toEqual({ ok: false, reason: 'malformed_hash' });
    expect(await small.verify(PASSWORD, scryptHash(PASSWORD).replace('ln=10', 'ln=13'))).toEqual({
      ok: false,
      reason: 'malformed_hash',
    });
  });

  it('refuses a wrong password and a tampered hash in the scrypt hashes it used to write', async () => {
    const stored = scryptHash(PASSWORD);
    const [, , , salt = '', hash = ''] = stored.split('$');
    expect(await fast.verify('correct horse battery stapl', stored)).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    for (const tampered of [stored.replace('ln=10', 'ln=11'), stored.replace(salt, flip(salt))]) {
      expect(await fast.verify(PASSWORD, tampered)).toEqual({ ok: false, reason: 'mismatch' });
    }
    for (const tampered of [
      stored.replace('ln=10', 'ln=010'),
      stored.replace('ln=10', 'ln=30'),
      stored.replace('r=8', 'r=0'),
      stored.replace(hash, respell(hash)),
    ]) {
      expect(await fast.verify(PASSWORD, tampered)).toEqual({
        ok: false,
        reason: 'malformed_hash',
      });
    }
  });

  it('treats an over-long password as a mismatch when verifying and refuses to hash it', async () => {
    const stored = await fast.hash(PASSWORD);
    const huge = 'x'.repeat(1025);
    expect(await fast.verify(huge, stored)).toEqual({ ok: false, reason: 'mismatch' });
    await expect(fast.hash(huge)).rejects.toThrow(RangeError);
    await expect(fast.hash('\u{1F600}'.repeat(257))).rejects.toThrow(RangeError);
  });

  it('refuses parameters it could not read back or that exceed maxmem', () => {
    expect(() => createPasswordHasher({ params: { keyLength: 8 } })).toThrow(RangeError);
    expect(() => createPasswordHasher({ params: { t: 0 } })).toThrow(RangeError);
    expect(() => createPasswordHasher({ params: { m: 65 * 1024 } })).toThrow(RangeError);
    expect(() =>
      createPasswordHasher({ params: { m: 65 * 1024 }, maxmem: 128 * 1024 * 1024 }),
    ).not.toThrow();
  });

  it('hashes with Argon2id at OWASP cost by default, in the reference PHC spelling', async () => {
    const hasher = createPasswordHasher();
    const stored = await hasher.hash(PASSWORD);
    expect(stored).toMatch(
      /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/,
    );
    expect(await hasher.verify(PASSWORD, stored)).toEqual({ ok: true, needsRehash: false });
    expect(parsePasswordHash(stored)).toMatchObject({ kdf: 'argon2id', m: 19456, t: 2, p: 1 });
    expect(parsePasswordHash(stored)?.salt).toHaveLength(DEFAULT_ARGON2ID_PARAMS.saltLength);
    expect(parsePasswordHash(stored)?.hash).toHaveLength(DEFAULT_ARGON2ID_PARAMS.keyLength);
    // Any Argon2 implementation reads it: the hashes are not tied to this binding.
    expect(await referenceVerify(stored, PASSWORD)).toBe(true);
    expect(await referenceVerify(stored, 'wrong')).toBe(false);
  });

  it('salts every hash', async () => {
    expect(await fast.hash('same password')).not.toBe(await fast.hash('same password'));
  });

  it('matches the same password typed in another Unicode normal form', async () => {
    const stored = await fast.hash('caf\u00e9 au lait');
    expect((await fast.verify('cafe\u0301 au lait', stored)).ok).toBe(true);
  });

  it('still verifies the scrypt hashes it used to write, and asks for them to be rehashed', async () => {
    const stored = scryptHash(PASSWORD);
    expect(needsRehash(stored, fast.params)).toBe(true);
    expect(await fast.verify(PASSWORD, stored)).toEqual({ ok: true, needsRehash: true });
    expect(await fast.verify('cafe\u0301', scryptHash('caf\u00e9'))).toEqual({
      ok: true,
      needsRehash: true,
    });
  });

  it('asks for a rehash when the configured parameters change', async () => {
    const stored = await fast.hash(PASSWORD);
    expect(needsRehash(stored, fast.params)).toBe(false);
    expect(needsRehash(stored, DEFAULT_ARGON2ID_PARAMS)).toBe(true);
    expect(needsRehash(stored, { ...fast.params, keyLength: 64 })).toBe(true);
    expect(needsRehash('garbage', fast.params)).toBe(true);
    const stronger = createPasswordHasher({ params: { m: 1024, t: 2 } });
    expect(await stronger.verify(PASSWORD, stored)).toEqual({ ok: true, needsRehash: true });
  });

  it('spends about as long on an unknown user as on a wrong password', async () => {
    const hasher = createPasswordHasher();
    const stored = await hasher.hash(PASSWORD);
    const median = async (run: () => Promise<unknown>) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const start = process.hrtime.bigint();
        await run();
        times.push(Number(process.hrtime.bigint() - start));
      }
      return times.sort((a, b) => a - b)[2] ?? 0;
    };
    const real = await median(() => hasher.verify('wrong password', stored));
    const dummy = await median(() => hasher.dummyVerify('wrong password'));
    expect(await hasher.dummyVerify(PASSWORD)).toEqual({ ok: false, reason: 'mismatch' });
    expect(dummy / real).toBeGreaterThan(1 / 3);
    expect(dummy / real).toBeLessThan(3);
  });
});
