import { parseCertificate } from '@lantern/shared';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCa } from '../../test/support/ca-fixture.js';
import { createEnrollmentToken, createTenant, startTestCa } from '../../test/support/ca-fixture.js';
import type { EnrolledTestDevice } from '../../test/support/device-keys.js';
import { enrollTestDevice, testDeviceKey } from '../../test/support/device-keys.js';
import { postAsDevice, syncAsDevice } from '../../test/support/device-requests.js';

const DAY = 86_400_000;
let ca: TestCa;
let tenantId: string;
let otherTenantId: string;

beforeAll(async () => {
  ca = await startTestCa();
  tenantId = await createTenant(ca, 'Hillside');
  otherTenantId = await createTenant(ca, 'Riverside');
});
afterAll(async () => ca.close());

/** `POST /v1/devices/enroll` with a new key's CSR and the old binding's proof (or a given one). */
async function reenroll(device: EnrolledTestDevice, token: string, proof?: string) {
  const body = JSON.stringify({ enrollmentToken: token, csr: await testDeviceKey().csr() });
  return postAsDevice(ca, device, '/v1/devices/enroll', body, proof);
}

const devices = async () =>
  ((await ca.ctx.store.db.prepare('SELECT count(*) AS n FROM devices').get()) as { n: number }).n;

describe('re-enrollment of a device whose binding expired beyond the grace period', () => {
  it('binds the same device id to the new key, with the token consumed', async () => {
    const device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    ca.clock.advance(90 * DAY);
    const before = await devices();
    const answer = await reenroll(device, await createEnrollmentToken(ca, tenantId));
    expect(answer.statusCode, answer.body).toBe(201);
    const body = answer.json() as { deviceId: string; certificate: string };
    expect(body.deviceId).toBe(device.deviceId);
    expect(parseCertificate(body.certificate).serialNumber).not.toBe(
      parseCertificate(device.certificatePem).serialNumber,
    );
    expect(await devices()).toBe(before);
  });

  it('refuses a token of another tenant, a bad proof and a revoked device, binding nothing', async () => {
    const device = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    ca.clock.advance(90 * DAY);
    const before = await ca.eventCount();

    const otherTenant = await reenroll(device, await createEnrollmentToken(ca, otherTenantId));
    expect(otherTenant.statusCode).toBe(403);
    expect(otherTenant.json()).toMatchObject({ code: 'tenant_mismatch' });

    const forged = await reenroll(
      device,
      await createEnrollmentToken(ca, tenantId),
      `${device.proof('POST', '/v1/devices/enroll', '{}', Math.floor(ca.clock.now() / 1000))}`,
    );
    expect(forged.statusCode).toBe(401);
    expect(forged.json()).toMatchObject({ code: 'body_hash_mismatch' });

    await ca.admin('POST', `/v1/admin/devices/${device.deviceId}/revoke`, { reason: 'stolen' });
    const afterRevoke = await ca.eventCount();
    const revoked = await reenroll(device, await createEnrollmentToken(ca, tenantId));
    expect(revoked.statusCode).toBe(403);
    expect(revoked.json()).toMatchObject({ code: 'device_revoked' });
    // Only the revocation and the tokens made for the attempts were recorded.
    expect(afterRevoke).toBeGreaterThan(before);
    expect(await ca.eventCount()).toBe(afterRevoke + 1);
  });

  it('a revoked device may still sync on a binding long expired (to hand over); an active one may not', async () => {
    const active = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    const revoked = await enrollTestDevice(ca.app, await createEnrollmentToken(ca, tenantId));
    await ca.admin('POST', `/v1/admin/devices/${revoked.deviceId}/revoke`, { reason: 'lost' });
    ca.clock.advance(90 * DAY);
    const refused = await syncAsDevice(ca, active);
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toMatchObject({ code: 'device_proof_invalid' });
    expect((await syncAsDevice(ca, revoked)).statusCode).toBe(200);
  });
});
