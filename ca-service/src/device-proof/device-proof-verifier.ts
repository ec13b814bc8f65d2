import type { ParsedCert } from '@lantern/shared';
import {
  DEVICE_PROOF_LIFETIME_SECONDS,
  DEVICE_PROOF_TYPE,
  OID_EKU_LANTERN_DEVICE_BINDING,
  X5cJwtVerifier,
  bodyHash,
  parseCertificate,
  parseDeviceUri,
  unverifiedHeader,
} from '@lantern/shared';
import type { CaContext } from '../context/ca-context.js';
import { certificateHolder } from '../devices/devices.js';
import { statement } from '../store/statements.js';
import {
  BodyHashMismatchError,
  DeviceNotFoundError,
  DeviceProofExpiredError,
  DeviceProofInvalidError,
  DeviceProofReplayedError,
  DeviceRevokedError,
  RenewalGraceExpiredError,
} from '../errors.js';

export interface ProvenDevice {
  deviceId: string;
  tenantId: string;
  serial: string;
  certificate: ParsedCert;
  /** True when the binding certificate had expired and was accepted within the renewal grace. */
  expired: boolean;
  /** Set for a revoked device (only sync lets one through, so it can learn it and hand over). */
  revokedAt: string | null;
  jti: string;
}

export interface ProofRequest {
  proof: string | undefined;
  method: string;
  path: string;
  rawBody: Uint8Array | string;
  /** Accept a certificate expired for at most this long (renewal only). */
  expiredGraceSeconds?: number;
  /**
   * Sync only: a revoked device may still push what it recorded and pull its own revocation,
   * which is how it learns to wipe itself (docs/architecture.md §5).
   */
  allowRevoked?: boolean;
}

const MAX_AGE_SECONDS = 120;
const MAX_FUTURE_SECONDS = 30;

/**
 * Checks a device proof end to end: chain to the root with the binding EKU, signature by the
 * certificate's key, method and path, body hash, freshness, single use, and the device's state
 * in the store. The URL is compared by path: the chain already binds the proof to this CA, and
 * a CA behind a proxy or reached by another host name would otherwise refuse honest devices.
 */
export class DeviceProofVerifier {
  private readonly verifier: X5cJwtVerifier;

  constructor(private readonly ctx: Pick<CaContext, 'ca' | 'clock' | 'store'>) {
    this.verifier = new X5cJwtVerifier({
      trustAnchors: [ctx.ca.rootPem],
      typ: DEVICE_PROOF_TYPE,
      requiredEku: [OID_EKU_LANTERN_DEVICE_BINDING],
      requiredClaims: ['htm', 'htu', 'iat', 'jti', 'bh'],
      clockToleranceSeconds: MAX_FUTURE_SECONDS,
    });
  }

  async verify(request: ProofRequest): Promise<ProvenDevice> {
    if (!request.proof)
      throw new DeviceProofInvalidError('send a device proof in the Lantern-Device-Proof header');
    const nowSeconds = Math.floor(this.ctx.clock.now() / 1000);
    let chainAt = nowSeconds;
    let expired = false;
    let verdict = this.verifier.verify(request.proof, nowSeconds);
    if (
      !verdict.ok &&
      verdict.reason === 'chain_expired' &&
      request.expiredGraceSeconds !== undefined
    ) {
      const leafNotAfter = this.leafNotAfter(request.proof);
      if (leafNotAfter !== undefined && leafNotAfter < nowSeconds) {
        if (nowSeconds - leafNotAfter > request.expiredGraceSeconds)
          throw new RenewalGraceExpiredError();
        chainAt = leafNotAfter;
        expired = true;
        verdict = this.verifier.verify(request.proof, nowSeconds, chainAt);
      }
    } else if (!verdict.ok && verdict.reason === 'chain_expired' && request.allowRevoked) {
      // A revoked device whose binding has since expired may still hand its outbox over and
      // learn its revocation (docs/architecture.md §5): its certificate's expiry adds no risk to a device the
      // CA already refuses everything else, and its events would otherwise never arrive.
      const leafNotAfter = this.leafNotAfter(request.proof);
      if (
        leafNotAfter !== undefined &&
        leafNotAfter < nowSeconds &&
        (await this.revokedLeaf(request.proof))
      ) {
        chainAt = leafNotAfter;
        expired = true;
        verdict = this.verifier.verify(request.proof, nowSeconds, chainAt);
      }
    }
    if (!verdict.ok) {
      if (verdict.reason === 'expired' || verdict.reason === 'issued_in_future') {
        throw new DeviceProofExpiredError();
      }
      throw new DeviceProofInvalidError(`device proof refused: ${verdict.reason}`);
    }
    const { claims, path } = verdict;
    if (typeof claims.iat !== 'number' || nowSeconds - claims.iat > MAX_AGE_SECONDS)
      throw new DeviceProofExpiredError();
    if (claims.exp - (claims.iat ?? 0) > DEVICE_PROOF_LIFETIME_SECONDS * 2) {
      throw new DeviceProofInvalidError('device proof lifetime is too long');
    }
    if (claims['htm'] !== request.method.toUpperCase() || pathOf(claims['htu']) !== request.path) {
      throw new DeviceProofInvalidError('device proof was made for another request');
    }
    if (claims['bh'] !== bodyHash(request.rawBody)) throw new BodyHashMismatchError();

    const leaf = path[0] as ParsedCert;
    const identity = leaf.subjectAltNameUris.map(parseDeviceUri).find((parsed) => parsed !== null);
    if (!identity)
      throw new DeviceProofInvalidError('binding certificate has no Lantern device URI');
    const device = await certificateHolder(this.ctx, leaf.serialNumber);
    if (device?.deviceId !== identity.deviceId) {
      throw new DeviceProofInvalidError(
        'binding certificate is not one this CA issued to that device',
      );
    }
    if (device.tenantId !== identity.tenantId) throw new DeviceNotFoundError();
    if (device.status === 'revoked' && !request.allowRevoked) throw new DeviceRevokedError();

    await this.consumeJti(claims.jti as string, claims.exp);
    return {
      deviceId: device.deviceId,
      tenantId: device.tenantId,
      serial: leaf.serialNumber,
      certificate: leaf,
      expired,
      revokedAt: device.revokedAt,
      jti: claims.jti as string,
    };
  }

  /** Whether the proof's (unverified) leaf is a certificate of a device the CA revoked. */
  private async revokedLeaf(proof: string): Promise<boolean> {
    const leaf = unverifiedLeaf(proof);
    return (
      leaf !== undefined &&
      (await certificateHolder(this.ctx, leaf.serialNumber))?.status === 'revoked'
    );
  }

  private leafNotAfter(proof: string): number | undefined {
    const leaf = unverifiedLeaf(proof);
    return leaf === undefined ? undefined : Math.floor(leaf.notAfter.getTime() / 1000);
  }

  private async consumeJti(jti: string, expiresAt: number): Promise<void> {
    const { db } = this.ctx.store;
    const now = Math.floor(this.ctx.clock.now() / 1000);
    // One transaction for both writes: one commit per proof instead of two. Single use rests on
    // the primary key alone, so it need not wait for another instance's writer.
    const consume = async () => {
      await statement(db, 'DELETE FROM proof_jtis WHERE expires_at < ?').run(now - MAX_AGE_SECONDS);
      return statement(
        db,
        'INSERT INTO proof_jtis (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING',
      ).run(jti, Math.max(expiresAt, now + MAX_AGE_SECONDS));
    };
    const inserted = db.transactionWithoutTurn
      ? await db.transactionWithoutTurn(consume)()
      : await this.ctx.store.transaction(consume);
    if (inserted.changes === 0) throw new DeviceProofReplayedError();
  }
}

/** The first certificate of a proof's `x5c`, parsed but not checked; undefined if there is none. */
function unverifiedLeaf(proof: string): ParsedCert | undefined {
  const x5c = unverifiedHeader(proof)?.['x5c'];
  const first: unknown = Array.isArray(x5c) ? x5c[0] : undefined;
  if (typeof first !== 'string') return undefined;
  try {
    return parseCertificate(Buffer.from(first, 'base64'));
  } catch {
    return undefined;
  }
}

function pathOf(htu: unknown): string | undefined {
  if (typeof htu !== 'string') return undefined;
  try {
    return new URL(htu).pathname;
  } catch {
    return undefined;
  }
}
