import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import { IDEMPOTENCY_TTL_SECONDS } from '../src/http/idempotency.js';

let ca: TestCa;
let tenantId: string;

beforeAll(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
});
afterAll(async () => ca.close());

function post(
  url: string,
  body: Record<string, unknown>,
  key: string | undefined,
  apiKey = ca.adminKey,
): Promise<LightMyRequestResponse> {
  return ca.app.inject({
    method: 'POST',
    url,
    headers: {
      authorization: `Bearer ${apiKey}`,
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    },
    payload: body,
  });
}

const count = async (eventType: string) =>
  (await ca.ctx.store.read({ tenantId, eventType })).length;
const codeOf = (response: LightMyRequestResponse) => (response.json() as { code: string }).code;

describe('Idempotency-Key on admin POSTs', () => {
  it('a retried user creation is answered again, with one user and one event', async () => {
    const body = {
      tenant: tenantId,
      username: 'amina',
      password: 'correct horse battery',
      role: 'learner',
    };
    const first = await post('/v1/admin/users', body, 'create-amina-1');
    expect(first.statusCode, first.body).toBe(201);
    expect(first.headers['idempotency-replayed']).toBeUndefined();
    // Same body with its keys in another order is the same request.
    const again = await post(
      '/v1/admin/users',
      { role: 'learner', password: body.password, username: 'amina', tenant: tenantId },
      'create-amina-1',
    );
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotency-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect(await count('identity.user.registered')).toBe(1);

    // Without the key the retry is a second request: the user exists.
    const unkeyed = await post('/v1/admin/users', body, undefined);
    expect(unkeyed.statusCode).toBe(409);
    expect(await count('identity.user.registered')).toBe(1);
  });

  it('a retried enrollment token is the same token, sealed at rest, and one event', async () => {
    const first = await post('/v1/admin/enrollment-tokens', { tenant: tenantId }, 'tok-1');
    expect(first.statusCode).toBe(201);
    const { token } = first.json() as { token: string };
    const again = await post('/v1/admin/enrollment-tokens', { tenant: tenantId }, 'tok-1');
    expect((again.json() as { token: string }).token).toBe(token);
    expect(await count('identity.enrollment_token.issued')).toBe(1);
    const stored = JSON.stringify(
      await ca.ctx.store.db.prepare('SELECT * FROM idempotency_keys').all(),
    );
    expect(stored).not.toContain(token);
  });

  it('the same key with another body is refused with a stable code, and nothing is done', async () => {
    const before = await count('identity.enrollment_token.issued');
    expect(
      (await post('/v1/admin/enrollment-tokens', { tenant: tenantId }, 'k-2')).statusCode,
    ).toBe(201);
    const other = await post(
      '/v1/admin/enrollment-tokens',
      { tenant: tenantId, deviceName: 'Tablet 9' },
      'k-2',
    );
    expect(other.statusCode).toBe(422);
    expect(codeOf(other)).toBe('idempotency_key_reused');
    expect(await count('identity.enrollment_token.issued')).toBe(before + 1);
  });

  it('concurrent duplicates have one effect', async () => {
    const before = await count('identity.enrollment_token.issued');
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        post('/v1/admin/enrollment-tokens', { tenant: tenantId, deviceName: 'Race' }, 'race-1'),
      ),
    );
    expect(await count('identity.enrollment_token.issued')).toBe(before + 1);
    const created = answers.filter((a) => a.statusCode === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((a) => (a.json() as { token: string }).token)).size).toBe(1);
    for (const answer of answers.filter((a) => a.statusCode !== 201)) {
      expect(answer.statusCode).toBe(409);
      expect(codeOf(answer)).toBe('idempotency_key_in_progress');
    }
  });

  it('keeps the answer of the request that took over a stalled claim, not the stalled one', async () => {
    const { passwords } = ca.ctx;
    const hash = passwords.hash.bind(passwords);
    let release = () => {};
    const stalled = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    passwords.hash = async (password) => {
      calls += 1;
      if (calls === 1) await stalled;
      return hash(password);
    };
    try {
      const body = {
        tenant: tenantId,
        username: 'stalled',
        password: 'correct horse battery',
        role: 'learner',
      };
      const first = post('/v1/admin/users', body, 'stall-1');
      while (calls === 0) await new Promise((resolve) => setImmediate(resolve));
      ca.clock.advance(61_000);
      const second = await post('/v1/admin/users', body, 'stall-1');
      expect(second.statusCode, second.body).toBe(201);
      release();
      expect((await first).statusCode).toBe(409);
      const replay = await post('/v1/admin/users', body, 'stall-1');
      expect(replay.headers['idempotency-replayed']).toBe('true');
      expect(replay.json()).toEqual(second.json());
    } finally {
      passwords.hash = hash;
    }
  });

  it('is in the OpenAPI document of every admin POST', async () => {
    const doc = (await ca.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<
        string,
        Record<string, { parameters?: { in: string; name: string }[]; responses: object }>
      >;
    };
    const create = doc.paths['/v1/admin/users']?.['post'];
    expect(create?.parameters).toContainEqual(
      expect.objectContaining({ in: 'header', name: 'idempotency-key' }),
    );
    expect(create?.responses).toHaveProperty('422');
    expect(doc.paths['/v1/auth/login']?.['post']?.parameters ?? []).not.toContainEqual(
      expect.objectContaining({ name: 'idempotency-key' }),
    );
  });

  it('keys are per caller and route, malformed keys are refused, and answers expire', async () => {
    const created = await post(
      '/v1/admin/api-keys',
      { tenant: tenantId, scopes: ['enrollment:write'] },
      undefined,
    );
    const otherKey = (created.json() as { apiKey: string }).apiKey;
    const before = await count('identity.enrollment_token.issued');
    // Another principal using the same key value is another request.
    const mine = await post(
      '/v1/admin/enrollment-tokens',
      { tenant: tenantId },
      'shared',
      otherKey,
    );
    expect(mine.statusCode).toBe(201);
    const theirs = await post('/v1/admin/enrollment-tokens', { tenant: tenantId }, 'shared');
    expect(theirs.statusCode).toBe(201);
    expect(theirs.headers['idempotency-replayed']).toBeUndefined();
    expect(await count('identity.enrollment_token.issued')).toBe(before + 2);

    const bad = await post('/v1/admin/enrollment-tokens', { tenant: tenantId }, 'has space');
    expect(bad.statusCode).toBe(400);
    expect(codeOf(bad)).toBe('idempotency_key_invalid');

    // A refusal (validation) claims nothing: the corrected body may use the key.
    const invalid = await post(
      '/v1/admin/enrollment-tokens',
      { tenant: tenantId, ttlSeconds: 1 },
      'fix-1',
    );
    expect(invalid.statusCode).toBe(400);
    expect(
      (await post('/v1/admin/enrollment-tokens', { tenant: tenantId }, 'fix-1')).statusCode,
    ).toBe(201);

    ca.clock.advance(IDEMPOTENCY_TTL_SECONDS * 1000);
    const later = await post('/v1/admin/enrollment-tokens', { tenant: tenantId }, 'shared');
    expect(later.headers['idempotency-replayed']).toBeUndefined();
    expect(await count('identity.enrollment_token.issued')).toBe(before + 4);
  });
});
