import type { Clock } from '@lantern/shared';
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  KeyUsageFlags,
  distinguishedName,
  extensions,
  keyIdentifier,
  signCertificate,
} from './certificate-builder.js';
import { randomSerial } from './der.js';
import type { CaProfile } from './profiles.js';
import { keyObjectSigner } from './signer.js';

const DAY_MS = 86_400_000;

export function keyUsageFlags(names: readonly string[]): number {
  return names.reduce((flags, name) => {
    const flag = KeyUsageFlags[name as keyof typeof KeyUsageFlags];
    if (flag === undefined) throw new TypeError(`unknown key usage "${name}" in profile`);
    return flags | flag;
  }, 0);
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

export interface CaHierarchy {
  rootKey: KeyObject;
  rootCertificate: Buffer;
  issuingKey: KeyObject;
  issuingCertificate: Buffer;
}

/** A P-256 root and, signed by it, the issuing CA (pathLen 0) that signs binding certs and CRLs. */
export async function createCaHierarchy(
  clock: Clock,
  rootProfile: CaProfile,
  issuingProfile: CaProfile,
): Promise<CaHierarchy> {
  const now = new Date(Math.floor(clock.now() / 1000) * 1000);
  const root = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issuing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rootSpki = spkiOf(root.publicKey);
  const issuingSpki = spkiOf(issuing.publicKey);
  const rootName = distinguishedName(
    rootProfile.subject.commonName,
    rootProfile.subject.organization,
  );
  const rootKeyId = keyIdentifier(rootSpki);

  const rootCertificate = await signCertificate(
    {
      serial: randomSerial(),
      issuer: rootName,
      subject: rootName,
      notBefore: now,
      notAfter: new Date(now.getTime() + rootProfile.validityDays * DAY_MS),
      subjectPublicKeyInfo: rootSpki,
      extensions: [
        extensions.basicConstraints(true, rootProfile.basicConstraints.pathLenConstraint),
        extensions.keyUsage(keyUsageFlags(rootProfile.keyUsage)),
        extensions.subjectKeyIdentifier(rootKeyId),
      ],
    },
    keyObjectSigner(root.privateKey),
  );

  const issuingCertificate = await signCertificate(
    {
      serial: randomSerial(),
      issuer: rootName,
      subject: distinguishedName(
        issuingProfile.subject.commonName,
        issuingProfile.subject.organization,
      ),
      notBefore: now,
      notAfter: new Date(now.getTime() + issuingProfile.validityDays * DAY_MS),
      subjectPublicKeyInfo: issuingSpki,
      extensions: [
        extensions.basicConstraints(true, issuingProfile.basicConstraints.pathLenConstraint),
        extensions.keyUsage(keyUsageFlags(issuingProfile.keyUsage)),
        extensions.subjectKeyIdentifier(keyIdentifier(issuingSpki)),
        extensions.authorityKeyIdentifier(rootKeyId),
      ],
    },
    keyObjectSigner(root.privateKey),
  );

  return {
    rootKey: root.privateKey,
    rootCertificate,
    issuingKey: issuing.privateKey,
    issuingCertificate,
  };
}
