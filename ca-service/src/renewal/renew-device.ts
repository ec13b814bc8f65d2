import type { BindingResponse } from '@lantern/shared';
import { p256JwkThumbprint } from '@lantern/shared';
import { createPublicKey } from 'node:crypto';
import type { CaContext } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import { parseDeviceCsr } from '../enrollment/csr.js';
import { assertDeviceNotRevoked } from '../devices/devices.js';
import { HardwareKeyRekeyError, RenewalTooEarlyError } from '../errors.js';
import {
  bindingResponse,
  currentRevocationCursor,
  issueForDevice,
  recordedTier,
} from '../issuance/binding-response.js';

/**
 * docs/architecture.md §3.4: online renewal from 2/3 of the lifetime, proven with the current key; after
 * expiry only within the grace period (checked with the proof). A CSR re-keys the device: the
 * new key proves possession through the CSR, the request is proven by the old key.
 */
export async function renewDevice(
  ctx: Pick<
    CaContext,
    'bindingProfile' | 'ca' | 'clock' | 'publicUrl' | 'publicUrls' | 'store' | 'tokenKeys'
  >,
  device: ProvenDevice,
  input: { csr?: string },
  correlationId: string,
): Promise<BindingResponse> {
  const profile = ctx.bindingProfile;
  const current = device.certificate;
  const lifetime = current.notAfter.getTime() - current.notBefore.getTime();
  const renewableAt = current.notBefore.getTime() + lifetime * profile.renewFromFraction;
  if (ctx.clock.now() < renewableAt) {
    throw new RenewalTooEarlyError(`renewal opens at ${new Date(renewableAt).toISOString()}`, {
      details: { renewableAt: new Date(renewableAt).toISOString() },
    });
  }
  const rekey = input.csr === undefined ? undefined : parseDeviceCsr(input.csr);
  const spki = rekey?.subjectPublicKeyInfo ?? Buffer.from(current.subjectPublicKeyInfo);
  const publicKey = rekey?.publicKey ?? createPublicKey({ key: spki, format: 'der', type: 'spki' });
  const rekeyed = !Buffer.from(current.subjectPublicKeyInfo).equals(spki);
  if (rekeyed && (await recordedTier(ctx, device.deviceId)) !== 'software') {
    throw new HardwareKeyRekeyError(
      'a hardware-tier device renews with its TPM key, not a new one',
    );
  }
  const certificate = await issueForDevice(ctx, {
    tenantId: device.tenantId,
    deviceId: device.deviceId,
    subjectPublicKeyInfo: spki,
  });
  const thumbprint = p256JwkThumbprint(publicKey);
  const revocationCursor = await ctx.store.transaction(async () => {
    await assertDeviceNotRevoked(ctx, device.deviceId);
    await ctx.store.append([
      {
        eventType: 'identity.device.renewed',
        aggregateId: device.deviceId,
        tenantId: device.tenantId,
        actor: { type: 'device', id: device.deviceId },
        correlationId,
        payload: {
          deviceId: device.deviceId,
          previousSerial: device.serial,
          certificateSerial: certificate.serialHex,
          certificateFingerprint: certificate.fingerprint,
          certificateKid: thumbprint,
          certIssuedAt: certificate.notBefore.toISOString(),
          certExpiresAt: certificate.notAfter.toISOString(),
          rekeyed,
          afterExpiry: device.expired,
          certificatePem: certificate.pem,
        },
      },
    ]);
    return currentRevocationCursor(ctx, device.tenantId);
  });
  return bindingResponse(ctx, device, certificate, revocationCursor);
}
