import type { Clock } from '@lantern/shared';
import { fromPem, toPem } from '@lantern/shared';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HsmOperationUnsupportedError, RootKeyUnavailableError } from '../errors.js';
import { signIssuingCertificate } from '../pki/ca-hierarchy.js';
import { keyIdentifier, subjectOf } from '../pki/certificate-builder.js';
import { sha256Hex } from '../pki/der.js';
import { profiles } from '../pki/profiles.js';
import { encryptPrivateKey } from '../pki/signer.js';
import type { DataDirPaths } from './paths.js';
import { dataDirPaths } from './paths.js';
import { readPkcs11Settings } from './pkcs11-settings.js';
import { writePrivateFile, writePublicFile } from './secret-files.js';

export interface RotationResult {
  /** Subject key identifiers (hex) of the issuing CA that retired and of its successor. */
  retiredKeyId: string;
  issuingKeyId: string;
  issuingFingerprint: string;
  commonName: string;
  notAfter: string;
}

const spkiOfPem = (pem: string): Buffer =>
  createPublicKey(pem).export({ type: 'spki', format: 'der' });

/** Hex SKI of a certificate PEM, computed the way this CA sets it (RFC 7093 method 1). */
export function keyIdOfCertificate(pem: string): string {
  return keyIdentifier(spkiOfPem(pem)).toString('hex');
}

/**
 * `lantern-ca ca rotate-issuing` (docs/architecture.md §2 Lifetimes): a new issuing CA under the same root.
 * The running service takes it at its next start; from then on it issues with the new one and
 * keeps the retired one (under `ca/retired/`) for the CRLs of the certificates it issued.
 *
 * Crash safety: the retired copy is written first, then the new key, then the new certificate,
 * which is the commit point; the two renames that follow are finished by `completeRotation`
 * when `openCa` finds the new certificate still waiting. Before the commit point, a new key
 * without its certificate is dropped and the old issuing CA stays in charge.
 */
export async function rotateIssuingCa(options: {
  dataDir: string;
  clock: Clock;
  passphrase: string;
}): Promise<RotationResult> {
  const paths = dataDirPaths(options.dataDir);
  completeRotation(paths);
  if (readPkcs11Settings(paths) !== null) {
    throw new HsmOperationUnsupportedError(
      'rotate-issuing makes a file-held issuing key; this CA keeps its issuing key on a PKCS#11 token',
    );
  }
  if (!existsSync(paths.rootKey)) {
    throw new RootKeyUnavailableError(
      `${paths.rootKey} is not here; bring the root key back from offline storage to rotate`,
    );
  }
  const rootPem = readFileSync(paths.rootCertificate, 'utf8');
  const rootKey = createPrivateKey({
    key: readFileSync(paths.rootKey),
    format: 'pem',
    passphrase: options.passphrase,
  });
  const currentPem = readFileSync(paths.issuingCertificate, 'utf8');
  const retiredKeyId = keyIdOfCertificate(currentPem);
  writePrivateFile(
    join(paths.retiredIssuers, `${retiredKeyId}.key.pem`),
    readFileSync(paths.issuingKey),
  );
  writePublicFile(join(paths.retiredIssuers, `${retiredKeyId}.pem`), currentPem);

  const profile = profiles.issuingCa();
  const generation = retiredIssuerIds(paths).length + 1;
  const commonName = profile.subject.commonName.replace(/\s*\d*$/, ` ${generation}`);
  const issuing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = issuing.publicKey.export({ type: 'spki', format: 'der' });
  const now = new Date(Math.floor(options.clock.now() / 1000) * 1000);
  const der = await signIssuingCertificate({
    now,
    rootName: subjectOf(fromPem(rootPem)),
    rootKeyId: keyIdentifier(spkiOfPem(rootPem)),
    rootKey,
    profile,
    subjectPublicKeyInfo: spki,
    commonName,
  });
  writePrivateFile(paths.nextIssuingKey, encryptPrivateKey(issuing.privateKey, options.passphrase));
  writePublicFile(paths.nextIssuingCertificate, toPem(der));
  completeRotation(paths);
  return {
    retiredKeyId,
    issuingKeyId: keyIdentifier(spki).toString('hex'),
    issuingFingerprint: sha256Hex(der),
    commonName,
    notAfter: new Date(now.getTime() + profile.validityDays * 86_400_000).toISOString(),
  };
}

/** Finishes a rotation that reached its commit point, or drops one that did not. */
export function completeRotation(paths: DataDirPaths): void {
  if (existsSync(paths.nextIssuingCertificate)) {
    if (existsSync(paths.nextIssuingKey)) renameSync(paths.nextIssuingKey, paths.issuingKey);
    renameSync(paths.nextIssuingCertificate, paths.issuingCertificate);
  } else {
    rmSync(paths.nextIssuingKey, { force: true });
  }
}

/** SKIs (hex) of the retired issuing CAs that have both their certificate and key here. */
export function retiredIssuerIds(paths: DataDirPaths): string[] {
  if (!existsSync(paths.retiredIssuers)) return [];
  const names = new Set(readdirSync(paths.retiredIssuers));
  return [...names]
    .filter((name) => /^[0-9a-f]{40}\.pem$/.test(name))
    .map((name) => name.slice(0, -'.pem'.length))
    .filter((id) => names.has(`${id}.key.pem`))
    .sort();
}
