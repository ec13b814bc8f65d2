import { createDeviceProof, parseCertificate } from '@lantern/shared';
import { sign } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import type { EnrolledTestDevice } from '../../test/support/device-keys.js';
import { enrollTestDevice, testDeviceKey } from '../../test/support/device-keys.js';

const DAY = 86_400_000;
let ca: TestCa;
let device: EnrolledTestDevice;

beforeEach(async () => {
  ca = await startTestCa();
  const tenantId = await createTenant(ca, 'Hillside');
  device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
});
afterEach(async () => ca.close());

const now = () => Math.floor(ca.clock.now() / 1000);

function renew(body: string, proof: string | undefined) {
  return ca.app.inject({
    method: 'POST',
    url: '/v1/devices/renew',
    headers: {
      'content-type': 'application/json',
      ...(proof === undefined ? {} : { 'lantern-device-proof': proof }),
    },
    payload: body,
  });
}

describe('device proofs are refused with distinct codes, and nothing is written', () => {
  beforeEach(() => ca.clock.advance(21 * DAY));

  const cases: [string, () => Promise<string | undefined>, string, number, string][] = [
    ['no proof', async () => undefined, '{}', 401, 'device_proof_invalid'],
    ['garbage', async () => 'not.a.proof', '{}', 401, 'device_proof_invalid'],
    [
      'a body hash mismatch',
      async () => device.proof('POST', '/v1/devices/renew', '{"csr":"x"}', now()),
      '{}',
      401,
      'body_hash_mismatch',
    ],
    [
      'another path',
      async () => device.proof('POST', '/v1/sync', '{}', now()),
      '{}',
      401,
      'device_proof_invalid',
    ],
    [
      'another method',
      async () => device.proof('GET', '/v1/devices/renew', '{}', now()),
      '{}',
      401,
      'device_proof_invalid',
    ],
    [
      'a stale proof',
      async () => device.proof('POST', '/v1/devices/renew', '{}', now() - 600),
      '{}',
      401,
      'device_proof_expired',
    ],
    [
      'a proof from the future',
      async () => device.proof('POST', '/v1/devices/renew', '{}', now() + 600),
      '{}',
      401,
      'device_proof_expired',
    ],
    [
      'a proof signed by another key with this chain',
      async () => {
        const impostor = testDeviceKey();
        return createDeviceProof({
          method: 'POST',
          url: 'http://ca.test/v1/devices/renew',
          body: '{}',
          x5c: device.x5c,
          nowSeconds: now(),
          sign: (data) =>
            sign('sha256', data, { key: impostor.privateKey, dsaEncoding: 'ieee-p1363' }),
        });
      },
      '{}',
      401,
      'device_proof_invalid',
    ],
  ];

  it.each(cases)('%s', async (_label, makeProof, body, status, code) => {
    const before = await ca.eventCount();
    const response = await renew(body, await makeProof());
    expect(response.statusCode).toBe(status);
    expect(response.json()).toMatchObject({ code });
    expect(await ca.eventCount()).toBe(before);
  });

  it('a replayed proof', async () => {
    const proof = device.proof('POST', '/v1/devices/renew', '{}', now());
    expect((await renew('{}', proof)).statusCode).toBe(200);
    const before = await ca.eventCount();
    const replay = await renew('{}', proof);
    expect(replay.statusCode).toBe(401);
    expect(replay.json()).toMatchObject({ code: 'device_proof_replayed' });
    expect(await ca.eventCount()).toBe(before);
  });

  it('a proof from a revoked device', async () => {
    await ca.admin('POST', `/v1/admin/devices/${device.deviceId}/revoke`, { reason: 'stolen' });
    const before = await ca.eventCount();
    const response = await renew('{}', device.proof('POST', '/v1/devices/renew', '{}', now()));
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ code: 'device_revoked' });
    expect(await ca.eventCount()).toBe(before);
  });

  it('a chain from another CA', async () => {
    const other = await startTestCa({ now: ca.clock.now() });
    try {
      const otherTenant = await createTenant(other, 'Elsewhere');
      const stranger = await enrollTestDevice(
        other.app,
        await createEnrollmentToken(other, otherTenant),
      );
      const response = await renew('{}', stranger.proof('POST', '/v1/devices/renew', '{}', now()));
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ code: 'device_proof_invalid' });
    } finally {
      await other.close();
    }
  });
});

describe('renewal', () => {
  it('is refused before 2/3 of the lifetime with the time it opens', async () => {
    ca.clock.advance(10 * DAY);
    const response = await renew('{}', device.proof('POST', '/v1/devices/renew', '{}', now()));
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({
      code: 'renewal_too_early',
      details: { renewableAt: expect.any(String) },
    });
  });

  it('issues a fresh certificate for the same key from 2/3 of the lifetime', async () => {
    ca.clock.advance(21 * DAY);
    const response = await renew('{}', device.proof('POST', '/v1/devices/renew', '{}', now()));
    expect(response.statusCode).toBe(200);
    const renewed = parseCertificate((response.json() as { certificate: string }).certificate);
    const original = parseCertificate(device.certificatePem);
    expect(renewed.serialNumber).not.toBe(original.serialNumber);
    expect(Buffer.from(renewed.subjectPublicKeyInfo)).toEqual(
      Buffer.from(original.subjectPublicKeyInfo),
    );
    expect(renewed.notAfter.getTime()).toBe(Math.floor(ca.clock.now() / 1000) * 1000 + 30 * DAY);
    const [event] = await ca.ctx.store.read({ eventType: 'identity.device.renewed' });
    expect(event?.payload).toMatchObject({
      rekeyed: false,
      afterExpiry: false,
      previousSerial: original.serialNumber,
    });
  });

  it('re-keys with a CSR signed by the new key, proven by the old one', async () => {
    ca.clock.advance(21 * DAY);
    const next = testDeviceKey();
    const body = JSON.stringify({ csr: await next.csr() });
    const response = await renew(body, device.proof('POST', '/v1/devices/renew', body, now()));
    expect(response.statusCode).toBe(200);
    const renewed = parseCertificate((response.json() as { certificate: string }).certificate);
    expect(Buffer.from(renewed.subjectPublicKeyInfo)).toEqual(
      next.publicKey.export({ type: 'spki', format: 'der' }),
    );
  });

  it('after expiry, within the grace period, when the old key proves continuity', async () => {
    ca.clock.advance(45 * DAY);
    const response = await renew('{}', device.proof('POST', '/v1/devices/renew', '{}', now()));
    expect(response.statusCode).toBe(200);
    const [event] = await ca.ctx.store.read({ eventType: 'identity.device.renewed' });
    expect(event?.payload).toMatchObject({ afterExpiry: true });
  });

  it('not after the grace period', async () => {
    ca.clock.advance(61 * DAY);
    const response = await renew('{}', device.proof('POST', '/v1/devices/renew', '{}', now()));
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ code: 'renewal_grace_expired' });
  });
});
