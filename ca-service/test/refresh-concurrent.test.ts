import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, createUser, startTestCa } from '../../test/support/ca-fixture.js';

/** Refreshes share commits (group commit); each must still see the ones before it. */
let ca: TestCa;
const PASSWORD = 'correct horse battery';

beforeEach(async () => {
  ca = await startTestCa();
  const tenantId = await createTenant(ca, 'Hillside');
  await createUser(ca, tenantId, 'amina', PASSWORD);
});
afterEach(async () => ca.close());

async function signedIn(): Promise<{ refreshToken: string; sessionId: string }> {
  const response = await ca.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { tenant: 'hillside', username: 'amina', password: PASSWORD },
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

const refresh = (refreshToken: string) =>
  ca.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });

describe('concurrent refreshes', () => {
  it('rotate every session once, and every new token works', async () => {
    const sessions = await Promise.all(Array.from({ length: 8 }, () => signedIn()));
    const first = await Promise.all(sessions.map((session) => refresh(session.refreshToken)));
    expect(first.map((response) => response.statusCode)).toEqual(sessions.map(() => 200));
    const rotated = first.map((response) => response.json() as { refreshToken: string });
    expect(new Set(rotated.map((body) => body.refreshToken)).size).toBe(sessions.length);
    expect(await ca.ctx.store.read({ eventType: 'identity.session.refreshed' })).toHaveLength(8);
    const second = await Promise.all(rotated.map((body) => refresh(body.refreshToken)));
    expect(second.map((response) => response.statusCode)).toEqual(sessions.map(() => 200));
  });

  it('one token presented twice at once: one rotation wins, the other is reuse and ends the family', async () => {
    const session = await signedIn();
    const [a, b] = await Promise.all([
      refresh(session.refreshToken),
      refresh(session.refreshToken),
    ]);
    expect([a?.statusCode, b?.statusCode].sort()).toEqual([200, 401]);
    const winner = (a?.statusCode === 200 ? a : b)?.json() as { refreshToken: string };
    expect((a?.statusCode === 401 ? a : b)?.json()).toMatchObject({ code: 'refresh_token_reused' });
    expect((await refresh(winner.refreshToken)).json()).toMatchObject({
      code: 'refresh_token_invalid',
    });
    expect(await ca.ctx.store.read({ eventType: 'identity.session.revoked' })).toMatchObject([
      { payload: { sessionId: session.sessionId, reason: 'rotation_reuse' } },
    ]);
  });
});
