import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LoginOverloadedError } from '../src/errors.js';
import { KdfAdmission } from '../src/passwords/kdf-admission.js';
import { createPasswordHasher } from '../src/passwords/password-hasher.js';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';

const PASSWORD = 'correct horse battery';

function gate(): { promise: Promise<void>; open(): void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('KdfAdmission', () => {
  it('refuses at once beyond the slots and the queue, and says when to come back', async () => {
    const admission = new KdfAdmission({ maxInFlight: 1, maxWaiting: 1, retryAfterSeconds: 2 });
    const first = gate();
    const ran: string[] = [];
    const running = admission.run(async () => {
      await first.promise;
      ran.push('first');
    });
    const queued = admission.run(async () => {
      ran.push('queued');
    });
    const refused = admission.run(async () => {
      ran.push('refused');
    });
    await expect(refused).rejects.toBeInstanceOf(LoginOverloadedError);
    await expect(refused).rejects.toMatchObject({
      status: 429,
      code: 'login_overloaded',
      details: { retryAfterSeconds: 2 },
    });
    expect(ran).toEqual([]);
    first.open();
    await Promise.all([running, queued]);
    expect(ran).toEqual(['first', 'queued']);
  });

  it('frees the slot when the work fails, and never runs more than the bound at once', async () => {
    const admission = new KdfAdmission({ maxInFlight: 2, maxWaiting: 10 });
    await expect(admission.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 12 }, () =>
        admission.run(async () => {
          active += 1;
          peak = Math.max(peak, active);
          await new Promise((resolve) => setTimeout(resolve, 2));
          active -= 1;
        }),
      ),
    );
    expect(peak).toBe(2);
  });

  it('refuses bounds that cannot work', () => {
    expect(() => new KdfAdmission({ maxInFlight: 0 })).toThrow(RangeError);
    expect(() => new KdfAdmission({ maxInFlight: 1.5 })).toThrow(RangeError);
    expect(() => new KdfAdmission({ maxWaiting: -1 })).toThrow(RangeError);
  });
});

describe('POST /v1/auth/login under a burst', () => {
  let ca: TestCa;
  let tenantId: string;
  let base: string;

  beforeEach(async () => {
    ca = await startTestCa();
    tenantId = await createTenant(ca, 'Hillside');
    // Four times the default Argon2id passes, for the stored hash too: a derivation must outlast
    // the spread of the burst's arrivals, which on a loaded machine (or with the PostgreSQL store,
    // whose statements hold the event loop) reached the default cost's ~15 ms and shed nothing.
    ca.ctx.passwords = createPasswordHasher({
      params: { t: 8 },
      admission: { maxInFlight: 1, maxWaiting: 1 },
    });
    await createUser(ca, tenantId, 'amina', PASSWORD);
    base = await ca.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterEach(async () => ca.close());

  const burst = (password: string, username = 'amina', size = 6) =>
    Promise.all(
      Array.from({ length: size }, async () => {
        const response = await fetch(`${base}/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ tenant: tenantId, username, password }),
        });
        return {
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          body: (await response.json()) as Record<string, unknown>,
        };
      }),
    );
  const failedLogins = async () =>
    (
      (await ca.ctx.store.db
        .prepare("SELECT count(*) AS n FROM events WHERE event_type = 'identity.user.login_failed'")
        .get()) as { n: number }
    ).n;

  it('sheds the excess with 429 login_overloaded and Retry-After; the rest sign in', async () => {
    const before = await ca.eventCount();
    const answers = await burst(PASSWORD);
    const shed = answers.filter((answer) => answer.status === 429);
    const signedIn = answers.filter((answer) => answer.status === 200);
    expect(shed.length + signedIn.length).toBe(answers.length);
    expect(signedIn.length).toBeGreaterThanOrEqual(2);
    expect(shed.length).toBeGreaterThanOrEqual(1);
    for (const answer of shed) {
      expect(answer.retryAfter).toBe('1');
      expect(answer.body).toMatchObject({ code: 'login_overloaded' });
    }
    // A shed login wrote nothing: the log grew by what the accepted ones wrote, each the same.
    const perLogin = ((await ca.eventCount()) - before) / signedIn.length;
    expect(Number.isInteger(perLogin)).toBe(true);
  });

  it('counts a shed wrong password towards nothing, and answers unknown users the same way', async () => {
    const answers = await burst('wrong password');
    const shed = answers.filter((answer) => answer.status === 429).length;
    const refused = answers.filter((answer) => answer.status === 401).length;
    expect(shed).toBeGreaterThanOrEqual(1);
    expect(shed + refused).toBe(answers.length);
    // Only the checked passwords were recorded as failures (and count towards the lockout).
    expect(await failedLogins()).toBe(refused);

    // The admission comes before the account is looked at: unknown users are shed alike.
    const unknown = (await burst(PASSWORD, 'nobody')).map((answer) => answer.status);
    expect(unknown).toContain(429);
    expect(unknown.every((status) => status === 429 || status === 401)).toBe(true);
  });
});
