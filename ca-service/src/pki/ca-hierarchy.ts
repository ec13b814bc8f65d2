import type { Clock } from '@lantern/shared';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Name } from '@peculiar/asn1-x509';
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

export interface RootCa {
  rootKey: KeyObject;
  rootCertificate: Buffer;
}

/** A self-signed P-256 root: made once, at the (offline) root ceremony. */
export async function createRootCa(clock: Clock, rootProfile: CaProfile): Promise<RootCa> {
  const now = new Date(Math.floor(clock.now() / 1000) * 1000);
  const root = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rootSpki = spkiOf(root.publicKey);
  const rootName = distinguishedName(
    rootProfile.subject.commonName,
    rootProfile.subject.organization,
  );
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
        extensions.subjectKeyIdentifier(keyIdentifier(rootSpki)),
      ],
    },
    keyObjectSigner(root.privateKey),
  );
  return { rootKey: root.privateKey, rootCertificate };
}

/** A P-256 root and, signed by it, the issuing CA (pathLen 0) that signs binding certs and CRLs. */
export async function createCaHierarchy(
  clock: Clock,
  rootProfile: CaProfile,
  issuingProfile: CaProfile,
): Promise<CaHierarchy> {
  const issuing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const hierarchy = await createRootFor(clock, rootProfile, issuingProfile, issuing.publicKey);
  return { ...hierarchy, issuingKey: issuing.privateKey };
}

/**
 * The root and the issuing CA certificate for an issuing key held elsewhere (a PKCS#11 token):
 * only its public half is needed here.
 */
export async function createRootFor(
  clock: Clock,
  rootProfile: CaProfile,
  issuingProfile: CaProfile,
  issuingPublicKey: KeyObject,
): Promise<Omit<CaHierarchy, 'issuingKey'>> {
  const now = new Date(Math.floor(clock.now() / 1000) * 1000);
  const { rootKey, rootCertificate } = await createRootCa(clock, rootProfile);
  const issuingCertificate = await signIssuingCertificate({
    now,
    rootName: distinguishedName(rootProfile.subject.commonName, rootProfile.subject.organization),
    rootKeyId: keyIdentifier(spkiOf(createPublicKey(rootKey))),
    rootKey,
    profile: issuingProfile,
    subjectPublicKeyInfo: spkiOf(issuingPublicKey),
  });
  return { rootKey, rootCertificate, issuingCertificate };
}

/** An issuing CA certificate (pathLen 0) signed by the root: at `init` and at each rotation. */
export function signIssuingCertificate(input: {
  now: Date;
  rootName: Name;
  rootKeyId: Buffer;
  rootKey: KeyObject;
  profile: CaProfile;
  subjectPublicKeyInfo: Buffer;
  /** Overrides the profile's common name (rotations number their issuing CAs). */
  commonName?: string;
}): Promise<Buffer> {
  const { now, profile } = input;
  return signCertificate(
    {
      serial: randomSerial(),
      issuer: input.rootName,
      subject: distinguishedName(
        input.commonName ?? profile.subject.commonName,
        profile.subject.organization,
      ),
      notBefore: now,
      notAfter: new Date(now.getTime() + profile.validityDays * DAY_MS),
      subjectPublicKeyInfo: input.subjectPublicKeyInfo,
      extensions: [
        extensions.basicConstraints(true, profile.basicConstraints.pathLenConstraint),
        extensions.keyUsage(keyUsageFlags(profile.keyUsage)),
        extensions.subjectKeyIdentifier(keyIdentifier(input.subjectPublicKeyInfo)),
        extensions.authorityKeyIdentifier(input.rootKeyId),
      ],
    },
    keyObjectSigner(input.rootKey),
  );
}
