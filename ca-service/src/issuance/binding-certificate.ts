import { toPem } from '@lantern/shared';
import { signTbs } from '../pki/certificate-builder.js';
import { randomSerial, sha256Hex } from '../pki/der.js';
import type { DeviceBindingProfile } from '../pki/profiles.js';
import type { IssuingAuthority } from '../pki/issuing-authority.js';
import { BindingCertificateTemplate } from './binding-certificate-template.js';

export interface BindingRequest {
  tenantId: string;
  deviceId: string;
  subjectPublicKeyInfo: Buffer;
  notBefore: Date;
  notAfter: Date;
  maxOfflineSeconds: number;
  keyAssurance?: 'software' | 'hardware' | 'attested';
}

export interface IssuedCertificate {
  der: Buffer;
  pem: string;
  serialHex: string;
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
}

// Both are long-lived (one per opened CA), so the template is built once per pair.
const templates = new WeakMap<
  IssuingAuthority,
  WeakMap<DeviceBindingProfile, BindingCertificateTemplate>
>();

function templateFor(
  authority: IssuingAuthority,
  profile: DeviceBindingProfile,
): BindingCertificateTemplate {
  let byProfile = templates.get(authority);
  if (!byProfile) {
    byProfile = new WeakMap();
    templates.set(authority, byProfile);
  }
  let template = byProfile.get(profile);
  if (!template) {
    template = new BindingCertificateTemplate(authority, profile);
    byProfile.set(profile, template);
  }
  return template;
}

/** docs/architecture.md §3.3: the binding certificate, every field from the device-binding profile. */
export async function issueBindingCertificate(
  authority: IssuingAuthority,
  profile: DeviceBindingProfile,
  request: BindingRequest,
): Promise<IssuedCertificate> {
  const serial = randomSerial();
  const tbs = templateFor(authority, profile).tbs({ ...request, serial });
  const der = await signTbs(tbs, authority.signer);
  return {
    der,
    pem: toPem(der),
    serialHex: serial.toString('hex'),
    fingerprint: sha256Hex(der),
    notBefore: request.notBefore,
    notAfter: request.notAfter,
  };
}
