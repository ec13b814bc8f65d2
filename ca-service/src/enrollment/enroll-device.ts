import { p256JwkThumbprint } from '@lantern/shared';
import type { PublicJwks } from '@lantern/shared';
import { ConcurrencyConflictError } from '@lantern/shared';
import type { CaContext } from '../context/ca-context.js';
import { EnrollmentTokenUsedError, TenantMismatchError } from '../errors.js';
import { issueBindingCertificate } from '../issuance/binding-certificate.js';
import { checkEnrollmentToken } from './enrollment-tokens.js';
import { parseDeviceCsr } from './csr.js';

export interface EnrollInput {
  enrollmentToken: string;
  csr: string;
  /** When the caller names a tenant, it must be the token's. */
  tenant?: string;
  name?: string;
}

export interface EnrollResult {
  deviceId: string;
  tenantId: string;
  certificate: string;
  chain: string[];
  root: string;
  rootFingerprint: string;
  notAfter: string;
  policy: { maxOfflineSeconds: number; renewFromFraction: number; renewalGraceDays: number };
  jwks: PublicJwks;
  revocationCursor: number;
}

const DAY_MS = 86_400_000;

export function currentRevocationCursor(ctx: CaContext, tenantId: string): number {
  const row = ctx.store.db
    .prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM revocation_feed WHERE tenant_id = ?')
    .get(tenantId) as { seq: number };
  return row.seq;
}

/**
 * DESIGN §3.2-3: proof of possession (CSR signature), key policy and a one-time token. The
 * certificate is signed before the transaction (a signer may be remote); the token is consumed
 * in the same transaction that records the device, so two racing enrollments cannot both win.
 */
export async function enrollDevice(
  ctx: CaContext,
  input: EnrollInput,
  correlationId: string,
): Promise<EnrollResult> {
  const token = checkEnrollmentToken(ctx, input.enrollmentToken);
  if (input.tenant !== undefined && input.tenant !== token.tenantId) {
    const named = ctx.store.db
      .prepare('SELECT tenant_id FROM tenants WHERE tenant_id = ? OR slug = ?')
      .get(input.tenant, input.tenant) as { tenant_id: string } | undefined;
    if (named?.tenant_id !== token.tenantId) {
      throw new TenantMismatchError('the enrollment token belongs to another tenant');
    }
  }
  const csr = parseDeviceCsr(input.csr);
  const deviceId = ctx.ids.next('dev');
  const profile = ctx.bindingProfile;
  const nowSeconds = Math.floor(ctx.clock.now() / 1000) * 1000;
  const certificate = await issueBindingCertificate(ctx.ca.authority, profile, {
    tenantId: token.tenantId,
    deviceId,
    subjectPublicKeyInfo: csr.subjectPublicKeyInfo,
    notBefore: new Date(nowSeconds - profile.backdateSeconds * 1000),
    notAfter: new Date(nowSeconds + profile.validityDays * DAY_MS),
    maxOfflineSeconds: profile.maxOfflineSeconds,
  });
  const thumbprint = p256JwkThumbprint(csr.publicKey);
  const meta = { actor: { type: 'device' as const, id: deviceId }, correlationId };
  const name = input.name ?? token.deviceName ?? undefined;
  try {
    ctx.store.append([
      {
        eventType: 'identity.enrollment_token.consumed',
        aggregateId: token.tokenId,
        expectedVersion: token.version,
        tenantId: token.tenantId,
        ...meta,
        payload: { tokenId: token.tokenId, deviceId },
      },
      {
        eventType: 'identity.device.enrolled',
        aggregateId: deviceId,
        expectedVersion: 0,
        tenantId: token.tenantId,
        ...meta,
        payload: {
          deviceId,
          enrollmentTokenId: token.tokenId,
          keyAlgorithm: 'ES256',
          keyThumbprint: thumbprint,
          assurance: 'software',
          ...(name ? { name } : {}),
        },
      },
      {
        eventType: 'identity.device.bound_for_offline',
        aggregateId: deviceId,
        expectedVersion: 1,
        tenantId: token.tenantId,
        ...meta,
        payload: {
          deviceId,
          certificateSerial: certificate.serialHex,
          certificateFingerprint: certificate.fingerprint,
          issuerFingerprint: ctx.ca.issuingFingerprint,
          certificateKid: thumbprint,
          certIssuedAt: certificate.notBefore.toISOString(),
          certExpiresAt: certificate.notAfter.toISOString(),
          maxOfflineSeconds: profile.maxOfflineSeconds,
          certificatePem: certificate.pem,
        },
      },
    ]);
  } catch (error) {
    if (error instanceof ConcurrencyConflictError) throw new EnrollmentTokenUsedError();
    throw error;
  }
  return {
    deviceId,
    tenantId: token.tenantId,
    certificate: certificate.pem,
    chain: [certificate.pem, ctx.ca.issuingPem],
    root: ctx.ca.rootPem,
    rootFingerprint: ctx.ca.rootFingerprint,
    notAfter: certificate.notAfter.toISOString(),
    policy: {
      maxOfflineSeconds: profile.maxOfflineSeconds,
      renewFromFraction: profile.renewFromFraction,
      renewalGraceDays: profile.renewalGraceDays,
    },
    jwks: ctx.tokenKeys.jwks(),
    revocationCursor: currentRevocationCursor(ctx, token.tenantId),
  };
}
