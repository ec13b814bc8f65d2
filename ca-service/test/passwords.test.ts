import { describe, expect, it } from 'vitest';
import { DEFAULT_SCRYPT_PARAMS, createPasswordHasher } from '../src/passwords/password-hasher.js';
import { needsRehash, parsePasswordHash } from '../src/passwords/password-hash-format.js';

// Cheap parameters keep the suite fast; the default cost is exercised where it matters.
const fast = createPasswordHasher({ params: { ln: 10 } });

describe('password hasher', () => {
  it('round-trips with the default parameters and stores them with the hash', async () => {
    const hasher = createPasswordHasher();
    const stored = await hasher.hash('correct horse battery staple');
    expect(stored).toMatch(/^\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await hasher.verify('correct horse battery staple', stored)).toEqual({
      ok: true,
      needsRehash: false,
    });
    expect(parsePasswordHash(stored)).toMatchObject({ ln: 14, r: 8, p: 1 });
    expect(parsePasswordHash(stored)?.salt).toHaveLength(DEFAULT_SCRYPT_PARAMS.saltLength);
    expect(parsePasswordHash(stored)?.hash).toHaveLength(DEFAULT_SCRYPT_PARAMS.keyLength);
  });

  it('salts every hash', async () => {
    expect(await fast.hash('same password')).not.toBe(await fast.hash('same password'));
  });

  it('refuses a wrong password', async () => {
    const stored = await fast.hash('correct horse battery staple');
    expect(await fast.verify('correct horse battery stapl', stored)).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(await fast.verify('', stored)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('matches the same password typed in another Unicode normal form', async () => {
    const stored = await fast.hash('caf\u00e9 au lait');
    expect((await fast.verify('cafe\u0301 au lait', stored)).ok).toBe(true);
  });

  it('refuses a tampered hash string', async () => {
    const stored = await fast.hash('correct horse battery staple');
    const parsed = parsePasswordHash(stored);
    if (parsed === null) throw new Error('unparsable');
    const [, , , salt = '', hash = ''] = stored.split('$');
    const flip = (text: string) => (text[0] === 'A' ? 'B' : 'A') + text.slice(1);
    // 32 bytes leave 2 spare bits in the last character; setting one keeps the bytes the same.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const respelled = `${hash.slice(0, -1)}${alphabet[alphabet.indexOf(hash.at(-1) ?? 'A') | 1]}`;
    const mismatching = [
      stored.replace('ln=10', 'ln=11'),
      stored.replace('r=8', 'r=9'),
      stored.replace(salt, flip(salt)),
      stored.replace(hash, flip(hash)),
    ];
    for (const tampered of mismatching) {
      expect(await fast.verify('correct horse battery staple', tampered)).toEqual({
        ok: false,
        reason: 'mismatch',
      });
    }
    const unreadable = [
      '',
      'not a hash',
      stored.replace('$scrypt$', '$argon2id$'),
      stored.replace('ln=10', 'ln=010'),
      stored.replace('ln=10', 'ln=30'),
      stored.replace('r=8', 'r=0'),
      stored.replace(hash, hash.slice(0, 10)),
      stored.replace(hash, `${hash}=`),
      stored.replace(hash, respelled),
      `${stored}$extra`,
      stored.replace('ln=10', 'ln=20'),
    ];
    for (const tampered of unreadable) {
      expect(await fast.verify('correct horse battery staple', tampered)).toEqual({
        ok: false,
        reason: 'malformed_hash',
      });
    }
  });

  it('asks for a rehash when the configured parameters change', async () => {
    const stored = await fast.hash('correct horse battery staple');
    expect(needsRehash(stored, fast.params)).toBe(false);
    expect(needsRehash(stored, DEFAULT_SCRYPT_PARAMS)).toBe(true);
    expect(needsRehash(stored, { ...fast.params, keyLength: 64 })).toBe(true);
    expect(needsRehash('garbage', fast.params)).toBe(true);
    const stronger = createPasswordHasher({ params: { ln: 11 } });
    expect(await stronger.verify('correct horse battery staple', stored)).toEqual({
      ok: true,
      needsRehash: true,
    });
  });

  it('treats an over-long password as a mismatch when verifying and refuses to hash it', async () => {
    const stored = await fast.hash('correct horse battery staple');
    const huge = 'x'.repeat(1025);
    expect(await fast.verify(huge, stored)).toEqual({ ok: false, reason: 'mismatch' });
    await expect(fast.hash(huge)).rejects.toThrow(RangeError);
    await expect(fast.hash('\u{1F600}'.repeat(257))).rejects.toThrow(RangeError);
  });

  it('refuses parameters it could not read back or that exceed maxmem', () => {
    expect(() => createPasswordHasher({ params: { keyLength: 8 } })).toThrow(RangeError);
    expect(() => createPasswordHasher({ params: { ln: 17 } })).toThrow(RangeError);
    expect(() =>
      createPasswordHasher({ params: { ln: 17 }, maxmem: 256 * 1024 * 1024 }),
    ).not.toThrow();
  });

  it('spends about as long on an unknown user as on a wrong password', async () => {
    const hasher = createPasswordHasher();
    const stored = await hasher.hash('correct horse battery staple');
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
    expect(await hasher.dummyVerify('correct horse battery staple')).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(dummy / real).toBeGreaterThan(1 / 3);
    expect(dummy / real).toBeLessThan(3);
  });
});
