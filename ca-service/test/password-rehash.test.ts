import { randomBytes, scryptSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatScryptHash, parsePasswordHash } from '../src/passwords/password-hash-format.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';

const PASSWORD = 'correct horse battery staple';

/** What the CA stored before Argon2id: scrypt N = 2^14, r = 8, p = 1. */
function legacyHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(Buffer.from(password.normalize('NFC')), salt, 32, {
    N: 2 ** 14,
    r: 8,
    p: 1,
  });
  return formatScryptHash({ ln: 14, r: 8, p: 1 }, salt, key);
}

describe('rehash on login', () => {
  let ca: TestCa;
  let tenantId: string;
  let userId: string;
  const storedHash = async () =>
    (
      (await ca.ctx.store.db
        .prepare("SELECT hash FROM credentials WHERE user_id = ? AND kind = 'password'")
        .get(userId)) as { hash: string }
    ).hash;
  const login = (password: string) =>
    ca.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { tenant: tenantId, username: 'amina', password },
    });

  beforeEach(async () => {
    ca = await startTestCa();
    tenantId = await createTenant(ca, 'Hillside');
    userId = await createUser(ca, tenantId, 'amina', PASSWORD);
    await ca.ctx.store.db
      .prepare("UPDATE credentials SET hash = ? WHERE user_id = ? AND kind = 'password'")
      .run(legacyHash(PASSWORD), userId);
  });
  afterEach(async () => {
    await ca.close();
  });

  it('leaves a scrypt hash alone when the password is wrong', async () => {
    const before = await storedHash();
    expect((await login('correct horse battery stapl')).statusCode).toBe(401);
    expect(await storedHash()).toBe(before);
  });

  it('does not write back over a password set while the login ran, nor let the old one in', async () => {
    const before = await storedHash();
    const passwords = ca.ctx.passwords;
    // The admin's reset lands between the match and the rehash.
    ca.ctx.passwords = {
      ...passwords,
      params: passwords.params,
      async verify(password, stored) {
        const verdict = await passwords.verify(password, stored);
        await ca.ctx.store.db
          .prepare("UPDATE credentials SET hash = ? WHERE user_id = ? AND kind = 'password'")
          .run(await passwords.hash('a new password set by the admin'), userId);
        return verdict;
      },
    };
    // The old password signs nobody in once it is replaced, not even the login it was checked for.
    expect((await login(PASSWORD)).statusCode).toBe(401);
    ca.ctx.passwords = passwords;
    expect(await storedHash()).not.toBe(before);
    expect((await login(PASSWORD)).statusCode).toBe(401);
    expect((await login('a new password set by the admin')).statusCode).toBe(200);
  });

  it('signs in two logins that rehash the same password at once', async () => {
    const answers = await Promise.all([login(PASSWORD), login(PASSWORD)]);
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200]);
    expect(parsePasswordHash(await storedHash())?.kdf).toBe('argon2id');
  });

  it('replaces a scrypt hash with Argon2id at the first successful login', async () => {
    expect(parsePasswordHash(await storedHash())?.kdf).toBe('scrypt');
    expect((await login(PASSWORD)).statusCode).toBe(200);
    const rehashed = await storedHash();
    expect(parsePasswordHash(rehashed)).toMatchObject({ kdf: 'argon2id', m: 19456, t: 2, p: 1 });
    expect((await login(PASSWORD)).statusCode).toBe(200);
    expect(await storedHash()).toBe(rehashed);
    expect((await login('correct horse battery stapl')).statusCode).toBe(401);
  });
});
