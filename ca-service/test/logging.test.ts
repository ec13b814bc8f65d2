import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LOG_FIELDS, LOG_FIELDS_ALWAYS, LOG_FIELDS_PER_REQUEST } from '@lantern/shared';
import type { TestCa } from '../../test/support/ca-fixture.js';
import {
  createEnrollmentToken,
  createTenant,
  createUser,
  startTestCa,
} from '../../test/support/ca-fixture.js';
import { enrollTestDevice } from '../../test/support/device-keys.js';

type LogRecord = Record<string, unknown> & {
  level: string;
  message: string;
  attrs?: Record<string, unknown>;
};

let ca: TestCa | undefined;
afterEach(async () => ca?.close());

const PASSWORD = 'correct horse battery';
const WRONG_PASSWORD = 'tr0ub4dor-and-3';
const EMAIL = 'amina.k@hillside-school.example';
const CLIENT_IP = '203.0.113.77';
const FORWARDED_IP = '198.51.100.23';
const TOTP_CODE = '492817';
const HASHED = /^hash:[0-9a-f]{16}$/;
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

function records(test: TestCa): LogRecord[] {
  return test.logLines.map((line) => JSON.parse(line) as LogRecord);
}

function only(all: LogRecord[], event: string): LogRecord {
  const found = all.filter((record) => record.message === event);
  expect(found, `exactly one ${event} record`).toHaveLength(1);
  return found[0] as LogRecord;
}

describe('logs', () => {
  it('writes every key event with its fields, one access record per request, and no secret', async () => {
    const test = await startTestCa();
    ca = test;
    const inject = vi.spyOn(test.app, 'inject');
    test.ctx.auth = { ...test.ctx.auth, lockout: { ...test.ctx.auth.lockout, maxFailures: 2 } };
    const tenantId = await createTenant(test, 'Hillside');
    const create = await test.admin('POST', '/v1/admin/users', {
      tenant: tenantId,
      username: 'amina',
      password: PASSWORD,
      role: 'learner',
      email: EMAIL,
    });
    expect(create.statusCode).toBe(201);
    const userId = (create.json() as { userId: string }).userId;
    await createUser(test, tenantId, 'bilal', 'another long passphrase');

    // device.offline_cert.issued
    const device = await enrollTestDevice(test.app, await createEnrollmentToken(test, tenantId));

    // login.success, from a client address that must not be logged in full.
    const login = (body: Record<string, unknown>) =>
      test.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: body,
        remoteAddress: CLIENT_IP,
        headers: { 'x-forwarded-for': FORWARDED_IP },
      });
    const signedIn = await login({ tenant: 'hillside', username: 'amina', password: PASSWORD });
    expect(signedIn.statusCode).toBe(200);
    const tokens = signedIn.json() as { accessToken: string; refreshToken: string };

    // login.failure.invalid_credentials twice, the second one locks: user.locked.
    for (let i = 0; i < 2; i += 1) {
      expect(
        (await login({ tenant: 'hillside', username: 'bilal', password: WRONG_PASSWORD }))
          .statusCode,
      ).toBe(401);
    }
    // An unknown user named by an email address, with a TOTP code.
    const unknown = await login({
      tenant: 'hillside',
      username: EMAIL,
      password: WRONG_PASSWORD,
      totp: TOTP_CODE,
    });
    expect(unknown.statusCode).toBe(401);

    // session.rotation_reuse_detected
    const refresh = (refreshToken: string) =>
      test.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } });
    const rotated = await refresh(tokens.refreshToken);
    expect(rotated.statusCode).toBe(200);
    const next = rotated.json() as { accessToken: string; refreshToken: string };
    expect((await refresh(tokens.refreshToken)).statusCode).toBe(401);

    // device.revoked
    expect(
      (
        await test.admin('POST', `/v1/admin/devices/${device.deviceId}/revoke`, {
          reason: 'compromised',
        })
      ).statusCode,
    ).toBe(200);

    // jwks.rotation
    expect((await test.admin('POST', '/v1/admin/keys/rotate')).statusCode).toBe(200);

    // A private key where a CSR belongs.
    const privatePem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const badEnroll = await test.app.inject({
      method: 'POST',
      url: '/v1/devices/enroll',
      payload: { enrollmentToken: await createEnrollmentToken(test, tenantId), csr: privatePem },
    });
    expect(badEnroll.statusCode).toBeGreaterThanOrEqual(400);

    const all = records(test);
    // The spec's schema on every line: its fixed fields, nothing else at the top level, and
    // the request's ids on every line written while serving one.
    for (const record of all) {
      expect(record).toMatchObject({ service: 'lantern-ca-test', version: expect.any(String) });
      for (const field of LOG_FIELDS_ALWAYS) expect(record, field).toHaveProperty(field);
      expect(Object.keys(record).filter((key) => !LOG_FIELDS.includes(key as never))).toEqual([]);
      expect(Date.parse(String(record['ts']))).not.toBeNaN();
      expect(['debug', 'info', 'warn', 'error']).toContain(record.level);
      if ('request_id' in record) {
        for (const field of LOG_FIELDS_PER_REQUEST) expect(record, field).toHaveProperty(field);
        expect(record['trace_id']).toMatch(TRACE_ID);
        expect(record['span_id']).toMatch(SPAN_ID);
      }
    }

    const success = only(all, 'login.success');
    expect(success).toMatchObject({ level: 'info', tenant_id: tenantId, actor_role: 'learner' });
    expect(success.attrs?.['user_id_hash']).toMatch(HASHED);
    expect(success['actor_id_hash']).toBe(success.attrs?.['user_id_hash']);
    expect(success['route']).toBe('POST /v1/auth/login');

    const failures = all.filter((record) => record.message === 'login.failure.invalid_credentials');
    expect(failures).toHaveLength(3);
    for (const failure of failures) {
      expect(failure).toMatchObject({ level: 'warn', tenant_id: tenantId });
      expect(failure['request_id']).toEqual(expect.any(String));
    }

    // The two for bilal name the account and its role; the unknown user's names none.
    const known = failures.filter((failure) => 'actor_id_hash' in failure);
    expect(known.map((failure) => failure['actor_role'])).toEqual(['learner', 'learner']);

    const locked = only(all, 'user.locked');
    expect(locked).toMatchObject({ level: 'warn', tenant_id: tenantId });
    expect(locked.attrs?.['user_id_hash']).toMatch(HASHED);

    const reuse = only(all, 'session.rotation_reuse_detected');
    expect(reuse).toMatchObject({ level: 'error' });
    expect(reuse.attrs?.['session_id']).toMatch(/^ses_/);

    for (const [event, level] of [
      ['device.offline_cert.issued', 'info'],
      ['device.revoked', 'warn'],
    ] as const) {
      const record = only(all, event);
      expect(record).toMatchObject({
        level,
        tenant_id: tenantId,
        attrs: expect.objectContaining({ device_id: device.deviceId }),
      });
      expect(record['request_id']).toEqual(expect.any(String));
    }

    const rotation = only(all, 'jwks.rotation');
    expect(rotation).toMatchObject({ level: 'info' });
    expect(rotation.attrs?.['active_kid']).toEqual(expect.any(String));

    // One access record per request, and none of Fastify's own per-request lines.
    const access = all.filter((record) => record.message === 'http.request');
    expect(access).toHaveLength(inject.mock.calls.length);
    expect(new Set(access.map((record) => record['request_id'])).size).toBe(access.length);
    expect(
      all.filter((record) => record.attrs && ('req' in record.attrs || 'res' in record.attrs)),
    ).toEqual([]);
    expect(all.some((record) => record.message === 'incoming request')).toBe(false);
    for (const record of access) {
      expect(record).toMatchObject({
        level: 'info',
        attrs: expect.objectContaining({ detail: 'request completed' }),
      });
      expect(record['request_id']).toEqual(expect.any(String));
      expect(record.attrs?.['status_code']).toEqual(expect.any(Number));
      expect(record['duration_ms']).toEqual(expect.any(Number));
      expect(String(record['route'])).toMatch(/^(GET|POST) ((\/[\w.:-]*)+|unmatched)$/);
    }
    const loginAccess = access.find(
      (record) =>
        record['route'] === 'POST /v1/auth/login' && record.attrs?.['status_code'] === 200,
    );
    expect(loginAccess).toMatchObject({
      tenant_id: tenantId,
      actor_role: 'learner',
      actor_id_hash: success.attrs?.['user_id_hash'],
      attrs: expect.objectContaining({ client_ip_masked: '203.0.113.0/24' }),
    });
    const revokeAccess = access.find(
      (record) => record['route'] === 'POST /v1/admin/devices/:id/revoke',
    );
    expect(revokeAccess).toMatchObject({
      tenant_id: tenantId,
      actor_role: 'admin',
      attrs: expect.objectContaining({ status_code: 200 }),
    });
    expect(revokeAccess?.['actor_id_hash']).toMatch(HASHED);

    // Nothing secret, no raw email or address, anywhere in the output.
    const output = test.logLines.join('');
    const secrets = {
      PASSWORD,
      WRONG_PASSWORD,
      'refresh token': tokens.refreshToken,
      'rotated refresh token': next.refreshToken,
      'access token': tokens.accessToken,
      'rotated access token': next.accessToken,
      'admin API key': test.adminKey,
      'TOTP code': TOTP_CODE,
      'private key PEM': 'PRIVATE KEY',
      'private key body': privatePem.split('\n')[1] ?? privatePem,
      email: EMAIL,
      'client IP': CLIENT_IP,
      'forwarded IP': FORWARDED_IP,
      'user id': userId,
    };
    for (const [what, secret] of Object.entries(secrets)) {
      expect(output.includes(secret), `${what} in the log`).toBe(false);
    }
  });
});
