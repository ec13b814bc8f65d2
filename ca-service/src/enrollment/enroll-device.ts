import type { BindingResponse } from '@lantern/shared';
import { ConcurrencyConflictError, p256JwkThumbprint } from '@lantern/shared';
import type { CaContext } from '../context/ca-context.js';
import { isoNow } from '../context/ca-context.js';
import type { ProvenDevice } from '../device-proof/device-proof-verifier.js';
import { assertDeviceNotRevoked } from '../devices/devices.js';
import { EnrollmentTokenUsedError, HardwareKeyRekeyError, TenantMismatchError } from '../errors.js';
import type { IssuedCertificate } from '../issuance/binding-certificate.js';
import {
  bindingResponse,
  currentRevocationCursor,
  issueForDevice,
  recordedTier,
} from '../issuance/binding-response.js';
import type { NewEvent } from '../store/event-store.js';
import { findTenant } from '../tenants/tenant-commands.js';
import type { RedeemableToken } from './enrollment-tokens.js';
import { checkEnrollmentToken, recheckEnrollmentToken } from './enrollment-tokens.js';
import { parseDeviceCsr } from './csr.js';
import type { TpmEvidence } from './tpm/tpm-attestation.js';
import { verifyTpmEvidence } from './tpm/tpm-attestation.js';

export interface EnrollInput {
  enrollmentToken: string;
  csr: string;
  /** When the caller names a tenant, it must be the token's. */
  tenant?: string;
  name?: string;
  /**
   * The key store tier the agent claims. A claim is not evidence: the device is recorded at the
   * `software` tier unless `tpmAttestation` verifies.
   */
  keyAssurance?: 'software' | 'hardware';
  /** Proof that the CSR's key lives in a TPM a trusted manufacturer certified. */
  tpmAttestation?: TpmEvidence;
}

/**
 * docs/architecture.md §3.2-3: proof of possession (CSR signature), key policy and a one-time token. The
 * certificate is signed before the transaction (a signer may be remote); the token is consumed
 * in the same unit of work that records the device, so two racing enrollments cannot both win.
 * That unit is a grouped transaction: enrollments arriving together (bulk enrollment of a
 * school's devices) share one COMMIT and its fsync, each in its own savepoint, and none is
 * answered before that commit.
 */
export async function enrollDevice(
  ctx: Pick<
    CaContext,
    | 'bindingProfile'
    | 'ca'
    | 'clock'
    | 'ids'
    | 'publicUrl'
    | 'publicUrls'
    | 'secretBox'
    | 'store'
    | 'tokenKeys'
  >,
  input: EnrollInput,
  correlationId: string,
  previous?: ProvenDevice,
): Promise<BindingResponse> {
  const token = await checkEnrollmentToken(ctx, input.enrollmentToken);
  if (input.tenant !== undefined && input.tenant !== token.tenantId) {
    if ((await findTenant(ctx.store.db, input.tenant))?.tenantId !== token.tenantId) {
      throw new TenantMismatchError('the enrollment token belongs to another tenant');
    }
  }
  const csr = parseDeviceCsr(input.csr);
  if (input.tpmAttestation !== undefined) {
    verifyTpmEvidence(ctx, input.tpmAttestation, {
      enrollmentToken: input.enrollmentToken,
      csrPublicKey: csr.publicKey,
    });
  }
  const assurance = input.tpmAttestation === undefined ? 'software' : 'hardware';
  if (previous !== undefined) {
    // Bound anew with a new key: a hardware tier carries over only with that key attested.
    const sameKey = Buffer.from(previous.certificate.subjectPublicKeyInfo).equals(
      csr.subjectPublicKeyInfo,
    );
    if (
      !sameKey &&
      assurance === 'software' &&
      (await recordedTier(ctx, previous.deviceId)) !== 'software'
    ) {
      throw new HardwareKeyRekeyError(
        'a hardware-tier device re-enrolls its new key with TPM attestation',
      );
    }
    return reenrollDevice(ctx, input.enrollmentToken, csr, previous, correlationId);
  }
  const deviceId = ctx.ids.next('dev');
  const profile = ctx.bindingProfile;
  const certificate = await issueForDevice(ctx, {
    tenantId: token.tenantId,
    deviceId,
    subjectPublicKeyInfo: csr.subjectPublicKeyInfo,
    keyAssurance: assurance,
  });
  const thumbprint = p256JwkThumbprint(csr.publicKey);
  const name = input.name ?? token.deviceName ?? undefined;
  return bindConsumingToken(ctx, token, {
    deviceId,
    // As the devices projection records it from the event below.
    deviceName: name || null,
    correlationId,
    certificate,
    events: [
      {
        eventType: 'identity.device.enrolled',
        expectedVersion: 0,
        payload: {
          deviceId,
          enrollmentTokenId: token.tokenId,
          keyAlgorithm: 'ES256',
          keyThumbprint: thumbprint,
          assurance,
          ...(name ? { name } : {}),
        },
      },
      {
        eventType: 'identity.device.bound_for_offline',
        eventVersion: 2,
        expectedVersion: 1,
        payload: {
          deviceId,
          tenantId: token.tenantId,
          publicKeyFingerprint: thumbprint,
          certificateSerial: certificate.serialHex,
          certificateFingerprint: certificate.fingerprint,
          issuerFingerprint: ctx.ca.issuingFingerprint,
          certIssuedAt: certificate.notBefore.toISOString(),
          certExpiresAt: certificate.notAfter.toISOString(),
          maxOfflineSeconds: profile.maxOfflineSeconds,
          certificatePem: certificate.pem,
          at: isoNow(ctx.clock),
        },
      },
    ],
  });
}

/**
 * The same device bound anew with the token's consent: no new device record, so its id, its
 * outbox sequence and its revocation feed carry on, and its queued events are accepted as its
 * own. A revoked device never gets here (the proof check refuses it).
 */
async function reenrollDevice(
  ctx: Pick<
    CaContext,
    'bindingProfile' | 'ca' | 'clock' | 'publicUrl' | 'publicUrls' | 'store' | 'tokenKeys'
  >,
  enrollmentToken: string,
  csr: ReturnType<typeof parseDeviceCsr>,
  previous: ProvenDevice,
  correlationId: string,
): Promise<BindingResponse> {
  const token = await checkEnrollmentToken(ctx, enrollmentToken);
  if (previous.tenantId !== token.tenantId) {
    throw new TenantMismatchError('the enrollment token belongs to another tenant than the device');
  }
  const { deviceId } = previous;
  const certificate = await issueForDevice(ctx, {
    tenantId: token.tenantId,
    deviceId,
    subjectPublicKeyInfo: csr.subjectPublicKeyInfo,
  });
  return bindConsumingToken(ctx, token, {
    deviceId,
    rebinds: true,
    correlationId,
    certificate,
    events: [
      {
        eventType: 'identity.device.renewed',
        payload: {
          deviceId,
          previousSerial: previous.serial,
          certificateSerial: certificate.serialHex,
          certificateFingerprint: certificate.fingerprint,
          certificateKid: p256JwkThumbprint(csr.publicKey),
          certIssuedAt: certificate.notBefore.toISOString(),
          certExpiresAt: certificate.notAfter.toISOString(),
          rekeyed: true,
          afterExpiry: previous.expired,
          certificatePem: certificate.pem,
        },
      },
    ],
  });
}

/** An event about the device being bound; the device is its aggregate and its actor. */
type BindingEvent = Pick<NewEvent, 'eventType' | 'eventVersion' | 'expectedVersion' | 'payload'>;

/**
 * The tail enrollment and re-enrollment share: the token is consumed in the grouped unit of
 * work that records the binding, and a token used meanwhile refuses the enrollment.
 */
async function bindConsumingToken(
  ctx: Pick<
    CaContext,
    'clock' | 'store' | 'ca' | 'bindingProfile' | 'publicUrl' | 'publicUrls' | 'tokenKeys'
  >,
  token: RedeemableToken,
  binding: {
    deviceId: string;
    /** Known when the binding enrolls the device; a re-enrollment leaves it to be looked up. */
    deviceName?: string | null;
    /** A device the CA knows: refused if it was revoked while its certificate was signed. */
    rebinds?: boolean;
    correlationId: string;
    certificate: IssuedCertificate;
    events: readonly BindingEvent[];
  },
): Promise<BindingResponse> {
  const { deviceId, correlationId, certificate } = binding;
  const meta = {
    tenantId: token.tenantId,
    actor: { type: 'device' as const, id: deviceId },
    correlationId,
  };
  // Re-checked inside the unit: the token may have been revoked, expired or used (possibly by
  // an earlier enrollment of the same group) while the certificate was being signed.
  const consume = async () => {
    await recheckEnrollmentToken(ctx, token);
    if (binding.rebinds === true) await assertDeviceNotRevoked(ctx, deviceId);
    await ctx.store.append([
      {
        eventType: 'identity.enrollment_token.consumed',
        aggregateId: token.tokenId,
        expectedVersion: token.version,
        ...meta,
        payload: { tokenId: token.tokenId, deviceId },
      },
      ...binding.events.map((event) => ({ ...event, aggregateId: deviceId, ...meta })),
    ]);
    return currentRevocationCursor(ctx, token.tenantId);
  };
  let revocationCursor: number;
  try {
    revocationCursor = await ctx.store.groupedTransaction(consume);
  } catch (error) {
    if (error instanceof ConcurrencyConflictError) throw new EnrollmentTokenUsedError();
    throw error;
  }
  return bindingResponse(
    ctx,
    {
      deviceId,
      tenantId: token.tenantId,
      ...(binding.deviceName === undefined ? {} : { name: binding.deviceName }),
    },
    certificate,
    revocationCursor,
  );
}
