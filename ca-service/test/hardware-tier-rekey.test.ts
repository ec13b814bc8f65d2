import { keyAssuranceOf, parseCertificate } from '@lantern/shared';
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

function renew(body: string) {
  return ca.app.inject({
    method: 'POST',
    url: '/v1/devices/renew',
    headers: {
      'content-type': 'application/json',
      'lantern-device-proof': device.proof('POST', '/v1/devices/renew', body, now()),
    },
    payload: body,
  });
}

/**
 * As if enrolled with TPM attestation (agent/test/tpm-attestation.test.ts does that against a
 * real swtpm): the projection's tier set directly, so this runs without one.
 */
async function attested(): Promise<void> {
  await ca.ctx.store.db
    .prepare("UPDATE devices SET assurance = 'hardware' WHERE device_id = ?")
    .run(device.deviceId);
}

describe('the hardware tier belongs to the attested key', () => {
  it('a hardware-tier device cannot swap its TPM key for a new, unattested one at renewal', async () => {
    await attested();
    ca.clock.advance(21 * DAY);
    const body = JSON.stringify({ csr: await testDeviceKey().csr() });
    const refused = await renew(body);
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'hardware_key_rekey_refused' });
    expect(await ca.ctx.store.read({ eventType: 'identity.device.renewed' })).toHaveLength(0);

    // The same key renews, and keeps the tier.
    const kept = await renew('{}');
    expect(kept.statusCode).toBe(200);
    const certificate = parseCertificate((kept.json() as { certificate: string }).certificate);
    expect(keyAssuranceOf(certificate.extensions)).toBe('hardware');
  });

  it('a software-tier device still re-keys', async () => {
    ca.clock.advance(21 * DAY);
    const body = JSON.stringify({ csr: await testDeviceKey().csr() });
    expect((await renew(body)).statusCode).toBe(200);
  });
});
