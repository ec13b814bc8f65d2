import type { BindingPolicy, BindingResponse } from '@lantern/shared';
import type { CaContext } from '../context/ca-context.js';
import type { DeviceAssurance } from '../devices/device-queries.js';
import { recordedAssurance, recordedDeviceName } from '../devices/device-queries.js';
import type { DeviceBindingProfile } from '../pki/profiles.js';
import { revocationFeedHead } from '../revocation/revocation-pages.js';
import { tenantName } from '../tenants/tenant-commands.js';
import type { IssuedCertificate } from './binding-certificate.js';
import { issueBindingCertificate } from './binding-certificate.js';

const DAY_MS = 86_400_000;

export function bindingPolicy(profile: DeviceBindingProfile): BindingPolicy {
  return {
    maxOfflineSeconds: profile.maxOfflineSeconds,
    renewFromFraction: profile.renewFromFraction,
    renewalGraceDays: profile.renewalGraceDays,
  };
}

export function currentRevocationCursor(
  ctx: Pick<CaContext, 'store'>,
  tenantId: string,
): Promise<number> {
  return revocationFeedHead(ctx.store.db, tenantId);
}

/** A binding certificate valid from now (backdated for clock skew) for the profile's lifetime. */
export async function issueForDevice(
  ctx: Pick<CaContext, 'bindingProfile' | 'ca' | 'clock' | 'store'>,
  device: {
    tenantId: string;
    deviceId: string;
    subjectPublicKeyInfo: Buffer;
    keyAssurance?: 'software' | 'hardware' | 'attested';
  },
): Promise<IssuedCertificate> {
  const profile = ctx.bindingProfile;
  const nowMs = Math.floor(ctx.clock.now() / 1000) * 1000;
  // Renewal certifies the tier recorded at enrollment; enrollment passes the claim itself.
  const keyAssurance = device.keyAssurance ?? (await recordedTier(ctx, device.deviceId));
  return issueBindingCertificate(ctx.ca.authority, profile, {
    ...device,
    ...(keyAssurance === undefined ? {} : { keyAssurance }),
    notBefore: new Date(nowMs - profile.backdateSeconds * 1000),
    notAfter: new Date(nowMs + profile.validityDays * DAY_MS),
    maxOfflineSeconds: profile.maxOfflineSeconds,
  });
}

/** The tier recorded at enrollment (`hardware` only once TPM attestation verified). */
export function recordedTier(
  ctx: Pick<CaContext, 'store'>,
  deviceId: string,
): Promise<DeviceAssurance | undefined> {
  return recordedAssurance(ctx.store.db, deviceId);
}

export async function bindingResponse(
  ctx: Pick<
    CaContext,
    'bindingProfile' | 'ca' | 'publicUrl' | 'publicUrls' | 'store' | 'tokenKeys'
  >,
  /** `name`: what enrollment just recorded (null: none), saving the lookup on that hot path. */
  device: { deviceId: string; tenantId: string; name?: string | null },
  certificate: IssuedCertificate,
  /**
   * The feed's head, read in the transaction that recorded the binding: a revocation of the
   * device committed after it has a later seq, so the agent's first sync brings it.
   */
  revocationCursor: number,
): Promise<BindingResponse> {
  const tenant = await tenantName(ctx.store.db, device.tenantId);
  const deviceName =
    device.name === undefined
      ? await recordedDeviceName(ctx.store.db, device.deviceId)
      : device.name;
  return {
    deviceId: device.deviceId,
    tenantId: device.tenantId,
    certificate: certificate.pem,
    chain: [certificate.pem, ctx.ca.issuingPem],
    root: ctx.ca.rootPem,
    rootFingerprint: ctx.ca.rootFingerprint,
    notAfter: certificate.notAfter.toISOString(),
    policy: bindingPolicy(ctx.bindingProfile),
    jwks: ctx.tokenKeys.jwks(),
    revocationCursor,
    issuer: ctx.publicUrl,
    publicUrls: [...ctx.publicUrls],
    ...(tenant === undefined ? {} : { tenantName: tenant }),
    ...(deviceName === null ? {} : { deviceName }),
  };
}
