import { afterEach, describe, expect, it, vi } from 'vitest';
import { signIn } from '../src/signin/sign-in.js';
import type { SigninWorld, TestDevice } from './signin-harness.js';
import { PASSWORD, T0, TEST_OPTIONS, startSigninWorld } from './signin-harness.js';
import { useTempDirs } from './support/temp-dir.js';

const MINUTE = 60_000;
const tempDir = useTempDirs();
const realFetch = globalThis.fetch;
let world: SigninWorld;
let device: TestDevice;

/**
 * The CA's Date header comes from the real wall clock (Node sets it), so its manual clock is
 * moved to now; the device is enrolled with its clock `skewMs` off the CA's.
 */
async function setup(skewMs: number): Promise<void> {
  world = await startSigninWorld(tempDir);
  world.advance(Date.now() - T0);
  await world.user('amina');
  world.agentClock.advance(skewMs);
  device = await world.device();
}

afterEach(async () => {
  vi.restoreAllMocks();
  await world.close();
});

/** Passes every call through to the real CA, recording the login answers' statuses and codes. */
function watchLogins(rewriteDate?: (date: string | null) => string | null): string[] {
  const seen: string[] = [];
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const response = await realFetch(input, init);
    if (!String(input).endsWith('/v1/auth/login')) return response;
    const text = await response.text();
    const code = response.ok ? '' : ` ${(JSON.parse(text) as { code: string }).code}`;
    seen.push(`${response.status}${code}`);
    const headers = new Headers(response.headers);
    if (rewriteDate !== undefined) {
      const date = rewriteDate(headers.get('date'));
      if (date === null) headers.delete('date');
      else headers.set('date', date);
    }
    return new Response(text, { status: response.status, headers });
  });
  return seen;
}

const amina = () => signIn(device.agent, { username: 'amina', password: PASSWORD }, TEST_OPTIONS);
const expired = '401 device_proof_expired';
const refused = { ok: false, mode: 'online', code: 'ca_refused', caCode: 'device_proof_expired' };

describe('online sign-in from a device whose clock is off', () => {
  it('refuses for good when the CA sends no Date header: one request, no loop', async () => {
    await setup(10 * MINUTE);
    const logins = watchLogins(() => null);
    expect(await amina()).toEqual(refused);
    expect(logins).toEqual([expired]);
  });

  it('refuses for good when the retry is refused too (a Date header that is wrong)', async () => {
    await setup(10 * MINUTE);
    const logins = watchLogins(() => new Date(world.agentClock.now()).toUTCString());
    expect(await amina()).toEqual(refused);
    expect(logins).toEqual([expired, expired]);
    // Nothing counted against the person: the CA refused the proof before the password.
    expect(device.count('lockout')).toBe(0);
    expect(device.count('outbox')).toBe(0);
  });

  it('10 min fast: signs in after one retry, and the next sign-in needs none', async () => {
    await setup(10 * MINUTE);
    const logins = watchLogins();
    expect(await amina()).toMatchObject({ ok: true, mode: 'online' });
    expect(logins).toEqual([expired, '200']);
    expect(await amina()).toMatchObject({ ok: true, mode: 'online' });
    expect(logins).toEqual([expired, '200', '200']);
    expect(device.count('outbox')).toBe(0);
  });

  it('10 min slow: signs in after one retry', async () => {
    // A device that slow could not have enrolled (its certificate not yet valid): the CA's clock
    // moves ahead after, and its Date header follows that clock as a real CA's would.
    await setup(0);
    world.ca.clock.advance(10 * MINUTE);
    const logins = watchLogins(() => new Date(world.ca.clock.now()).toUTCString());
    expect(await amina()).toMatchObject({ ok: true, mode: 'online' });
    expect(logins).toEqual([expired, '200']);
    // Trusted time moved up on the CA's signed iat (the Date header alone would not move it).
    expect(device.opened.trustedTime.trustedNow()).toBeGreaterThan(
      world.agentClock.now() + 9 * MINUTE,
    );
  });
});
