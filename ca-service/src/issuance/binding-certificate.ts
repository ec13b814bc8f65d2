import {
  OID_EKU_CLIENT_AUTH,
  OID_EKU_LANTERN_DEVICE_BINDING,
  OID_EXT_LANTERN_OFFLINE_POLICY,
  deviceUri,
  encodeOfflinePolicy,
} from '@lantern/shared';
import type { Name } from '@peculiar/asn1-x509';
import {
  distinguishedName,
  extensions,
  keyIdentifier,
  signCertificate,
} from '../pki/certificate-builder.js';
import { randomSerial, sha256Hex, toPem } from '../pki/der.js';
import { keyUsageFlags } from '../pki/ca-hierarchy.js';
import type { DeviceBindingProfile } from '../pki/profiles.js';
import type { Signer } from '../pki/signer.js';

export interface IssuingAuthority {
  certificate: Buffer;
  subject: Name;
  keyId: Buffer;
  signer: Signer;
  crlUrl: string;
}

export interface BindingRequest {
  tenantId: string;
  deviceId: string;
  subjectPublicKeyInfo: Buffer;
  notBefore: Date;
  notAfter: Date;
  maxOfflineSeconds: number;
}

export interface IssuedCertificate {
  der: Buffer;
  pem: string;
  serialHex: string;
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
}

const EKU_NAMES: Record<string, string> = {
  clientAuth: OID_EKU_CLIENT_AUTH,
  lanternDeviceBinding: OID_EKU_LANTERN_DEVICE_BINDING,
};

/** DESIGN §3.3: the binding certificate, every field from the device-binding profile. */
export async function issueBindingCertificate(
  authority: IssuingAuthority,
  profile: DeviceBindingProfile,
  request: BindingRequest,
): Promise<IssuedCertificate> {
  const serial = randomSerial();
  const der = await signCertificate(
    {
      serial,
      issuer: authority.subject,
      subject: distinguishedName(request.deviceId),
      notBefore: request.notBefore,
      notAfter: request.notAfter,
      subjectPublicKeyInfo: request.subjectPublicKeyInfo,
      extensions: [
        extensions.basicConstraints(false),
        extensions.keyUsage(keyUsageFlags(profile.keyUsage)),
        extensions.extendedKeyUsage(
          profile.extendedKeyUsage.map((name) => {
            const oid = EKU_NAMES[name];
            if (!oid) throw new TypeError(`unknown EKU "${name}" in profile`);
            return oid;
          }),
        ),
        extensions.subjectAltNameUri(deviceUri(request.tenantId, request.deviceId)),
        extensions.subjectKeyIdentifier(keyIdentifier(request.subjectPublicKeyInfo)),
        extensions.authorityKeyIdentifier(authority.keyId),
        extensions.crlDistributionPoint(authority.crlUrl),
        extensions.raw(
          OID_EXT_LANTERN_OFFLINE_POLICY,
          encodeOfflinePolicy({
            tenantId: request.tenantId,
            deviceId: request.deviceId,
            maxOfflineSeconds: request.maxOfflineSeconds,
          }),
        ),
      ],
    },
    authority.signer,
  );
  return {
    der,
    pem: toPem(der),
    serialHex: serial.toString('hex'),
    fingerprint: sha256Hex(der),
    notBefore: request.notBefore,
    notAfter: request.notAfter,
  };
}
