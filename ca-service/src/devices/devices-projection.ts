import { DerError, TAG, childrenOf, contextTag, readDer } from '@lantern/shared';
import type { Projection } from '../store/event-store.js';
import { statement } from '../store/statements.js';

/** Devices and their binding certificates (every certificate ever issued, for the CRL). */
export const devicesProjection: Projection = {
  name: 'devices',
  tables: ['devices', 'certificates'],
  apply(db, event) {
    switch (event.eventType) {
      case 'identity.device.enrolled': {
        const device = event.payload;
        statement(
          db,
          `INSERT INTO devices (device_id, tenant_id, name, status, key_thumbprint, assurance, enrolled_at)
           VALUES (?, ?, ?, 'active', ?, ?, ?)`,
        ).run(
          device.deviceId,
          event.tenantId,
          device.name ?? null,
          device.keyThumbprint,
          device.assurance,
          event.occurredAt,
        );
        break;
      }
      case 'identity.device.bound_for_offline':
      case 'identity.device.renewed': {
        const bound = event.payload;
        // The device key's thumbprint: `certificateKid` of a renewal, as of a v1 binding.
        const keyThumbprint =
          'publicKeyFingerprint' in bound ? bound.publicKeyFingerprint : bound.certificateKid;
        statement(
          db,
          `INSERT INTO certificates (serial, device_id, tenant_id, fingerprint, key_thumbprint, not_before, not_after, pem, issuer_key_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          bound.certificateSerial,
          bound.deviceId,
          event.tenantId,
          bound.certificateFingerprint,
          keyThumbprint,
          bound.certIssuedAt ?? event.occurredAt,
          bound.certExpiresAt,
          bound.certificatePem,
          issuerKeyIdOf(bound.certificatePem),
        );
        statement(
          db,
          'UPDATE devices SET current_serial = ?, cert_expires_at = ?, key_thumbprint = ? WHERE device_id = ?',
        ).run(bound.certificateSerial, bound.certExpiresAt, keyThumbprint, bound.deviceId);
        break;
      }
      case 'identity.device.revoked': {
        const { deviceId, reason, revokedAt } = event.payload;
        statement(
          db,
          "UPDATE devices SET status = 'revoked', revoked_at = ?, revoke_reason = ? WHERE device_id = ?",
        ).run(revokedAt, reason, deviceId);
        statement(
          db,
          `UPDATE certificates SET revoked_at = ?, revoke_reason = ?, revoked_position = ?
           WHERE device_id = ? AND revoked_at IS NULL`,
        ).run(revokedAt, reason, event.position, deviceId);
        break;
      }
    }
  },
};

const AUTHORITY_KEY_ID_OID = Buffer.from([0x55, 0x1d, 0x23]);

/**
 * The issuing CA's key id (hex) of a recorded certificate: the keyIdentifier of its authority
 * key identifier. A projection applies whatever the store holds, on append and on every replay,
 * so it never throws on an event: a certificate it cannot read was not issued by this CA, and
 * no CRL of ours can list it. Only the path to the extensions is walked (a full
 * `parseCertificate` per enrollment was ~10 % of its store time, bench/NOTES.md).
 */
function issuerKeyIdOf(certificatePem: string): string | null {
  try {
    const der = Buffer.from(certificatePem.replace(/-----[A-Z0-9 ]+-----/g, ''), 'base64');
    const tbs = childrenOf(childrenOf(readDer(der, TAG.sequence)).read(TAG.sequence));
    tbs.read(contextTag(0, true)); // version: only v3 has extensions
    for (const field of [TAG.integer, TAG.sequence, TAG.sequence, TAG.sequence, TAG.sequence]) {
      tbs.read(field); // serial, signature, issuer, validity, subject
    }
    tbs.read(TAG.sequence); // subjectPublicKeyInfo
    tbs.optional(contextTag(1, false));
    tbs.optional(contextTag(2, false));
    const extensions = tbs.optional(contextTag(3, true));
    if (!extensions) return null;
    const list = childrenOf(readDer(extensions.content, TAG.sequence));
    while (!list.done) {
      const extension = childrenOf(list.read(TAG.sequence));
      if (!AUTHORITY_KEY_ID_OID.equals(extension.read(TAG.oid).content)) continue;
      extension.optional(TAG.boolean);
      const aki = childrenOf(readDer(extension.read(TAG.octetString).content, TAG.sequence));
      const keyId = aki.optional(contextTag(0, false));
      return keyId ? Buffer.from(keyId.content).toString('hex') : null;
    }
    return null;
  } catch (error) {
    if (error instanceof DerError) return null;
    throw error;
  }
}
