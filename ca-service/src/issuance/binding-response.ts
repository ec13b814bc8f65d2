import type { PublicJwks } from '@lantern/shared';
import type { CaContext } from '../context/ca-context.js';
import type { DeviceBindingProfile } from '../pki/profiles.js';
import { statement } from '../store/statements.js';
import type { IssuedCertificate } from './binding-certificate.js';
import { issueBindingCertificate } from './binding-certificate.js';

const DAY_MS = 86_400_000;

export interface BindingPolicy {
  maxOfflineSeconds: number;
  renewFromFraction: number;
  renewalGraceDays: number;
}

/** What enrollment, renewal and sync return to a device: its binding certificate and context. */
export interface BindingResponse {
  deviceId: string;
  tenantId: string;
  certificate: string;
  chain: string[];
  root: string;
  rootFingerprint: string;
  notAfter: string;
  policy: BindingPolicy;
  jwks: PublicJwks;
  revocationCursor: number;
  /** The CA's name for itself: agents expect it as \`iss\`, whatever URL they reached it by. */
  issuer: string;
  publicUrls: string[];
  /** The tenant's display name, for the device's sign-in page ("School: …"). */
  tenantName?: string;
  /** The name given at enrollment (the enrollment request or the token); absent when none was. */
  deviceName?: string;
}

export function bindingPolicy(profile: DeviceBindingProfile): BindingPolicy {
  return {
    maxOfflineSeconds: profile.maxOfflineSeconds,
    renewFromFraction: profile.renewFromFraction,
    renewalGraceDays: profile.renewalGraceDays,
  };
}

export function currentRevocationCursor(ctx: CaContext, tenantId: string): number {
  const row = statement(
    ctx.store.db,
    'SELECT COALESCE(MAX(seq), 0) AS seq FROM revocation_feed WHERE tenant_id = ?',
  ).get(tenantId) as { seq: number };
  return row.seq;
}

/** A binding certificate valid from now (backdated for clock skew) for the profile's lifetime. */
export function issueForDevice(
  ctx: CaContext,
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
  const keyAssurance = device.keyAssurance ?? recordedAssurance(ctx, device.deviceId);
  return issueBindingCertificate(ctx.ca.authority, profile, {
    ...device,
    ...(keyAssurance === undefined ? {} : { keyAssurance }),
    notBefore: new Date(nowMs - profile.backdateSeconds * 1000),
    notAfter: new Date(nowMs + profile.validityDays * DAY_MS),
    maxOfflineSeconds: profile.maxOfflineSeconds,
  });
}

function recordedAssurance(
  ctx: CaContext,
  deviceId: string,
): 'software' | 'hardware' | 'attested' | undefined {
  const row = statement(ctx.store.db, 'SELECT assurance FROM devices WHERE device_id = ?').get(
    deviceId,
  ) as { assurance: 'software' | 'hardware' | 'attested' } | undefined;
  return row?.assurance;
}

export function bindingResponse(
  ctx: CaContext,
  device: { deviceId: string; tenantId: string },
  certificate: IssuedCertificate,
): BindingResponse {
  const names = statement(
    ctx.store.db,
    `SELECT (SELECT name FROM tenants WHERE tenant_id = ?) AS tenantName,
            (SELECT name FROM devices WHERE device_id = ?) AS deviceName`,
  ).get(device.tenantId, device.deviceId) as {
    tenantName: string | null;
    deviceName: string | null;
  };
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
    revocationCursor: currentRevocationCursor(ctx, device.tenantId),
    issuer: ctx.publicUrl,
    publicUrls: [...ctx.publicUrls],
    ...(names.tenantName === null ? {} : { tenantName: names.tenantName }),
    ...(names.deviceName === null ? {} : { deviceName: names.deviceName }),
  };
}
