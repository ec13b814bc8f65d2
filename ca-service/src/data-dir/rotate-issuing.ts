import type { Clock } from '@lantern/shared';
import { buildCsrPem, toPem } from '@lantern/shared';
import { X509Certificate, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  HsmOperationUnsupportedError,
  IssuingCertificateMismatchError,
  RotationNotPendingError,
} from '../errors.js';
import { keyIdentifier } from '../pki/certificate-builder.js';
import { sha256Hex } from '../pki/der.js';
import { profiles } from '../pki/profiles.js';
import { encryptPrivateKey, readKeyFile } from '../pki/signer.js';
import type { RootLocation } from './offline-root.js';
import { loadRoot, signIssuingCsr } from './offline-root.js';
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
 * `lantern-ca ca rotate-issuing` (docs/architecture.md §2 Lifetimes): a new issuing CA under the
 * same root, in three steps so that the root key never comes to the online CA:
 * {@link requestIssuingRotation} makes the new key and a CSR (`--csr-out`), the offline root
 * signs it (`lantern-ca root sign-issuing`), {@link installIssuingCertificate} takes the
 * certificate back (`--certificate`). With the root's media mounted, `--root-dir` does all three.
 * The running service takes the new issuing CA at its next start and keeps the retired one
 * (under `ca/retired/`) for the CRLs of the certificates it issued.
 *
 * Crash safety: the pending key stays until its certificate is installed. Installing writes the
 * retired copy, then the new key, then the new certificate, which is the commit point; the two
 * renames that follow are finished by `completeRotation` when `openCa` finds the new
 * certificate still waiting. Before the commit point, a new key without its certificate is
 * dropped (the pending key is still there) and the old issuing CA stays in charge.
 */
export async function rotateIssuingCa(options: {
  dataDir: string;
  clock: Clock;
  passphrase: string;
  root: RootLocation;
}): Promise<RotationResult> {
  const root = loadRoot(options.root);
  const request = await requestIssuingRotation(options);
  const signed = await signIssuingCsr({ root, csrPem: request.csrPem, clock: options.clock });
  return installIssuingCertificate({ ...options, certificatePem: signed.certificatePem });
}

export interface RotationRequest {
  csrPem: string;
  commonName: string;
  /** SKI (hex) of the key waiting for its certificate. */
  issuingKeyId: string;
}

/** Step 1: the new issuing key (kept encrypted in the data dir) and its CSR for the offline root. */
export async function requestIssuingRotation(options: {
  dataDir: string;
  passphrase: string;
}): Promise<RotationRequest> {
  const paths = dataDirPaths(options.dataDir);
  completeRotation(paths);
  refuseTokenHeldIssuingKey(paths);
  let key: KeyObject;
  if (existsSync(paths.pendingIssuingKey)) {
    // Asked again before the certificate came back: the same key, so an earlier CSR stays good.
    key = readKeyFile(paths.pendingIssuingKey, options.passphrase).privateKey;
  } else {
    key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    writePrivateFile(paths.pendingIssuingKey, encryptPrivateKey(key, options.passphrase));
  }
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const profile = profiles.issuingCa();
  const generation = retiredIssuerIds(paths).length + 2;
  const commonName = profile.subject.commonName.replace(/\s*\d*$/, ` ${generation}`);
  const csrPem = await buildCsrPem({
    commonName,
    subjectPublicKeyInfo: spki,
    sign: (data) => sign('sha256', data, { key, dsaEncoding: 'der' }),
  });
  return { csrPem, commonName, issuingKeyId: keyIdentifier(spki).toString('hex') };
}

/**
 * Step 3: the certificate the offline root signed. It must be for the pending key, a CA, and
 * signed by the root this CA's devices pin; anything else changes nothing.
 */
export async function installIssuingCertificate(options: {
  dataDir: string;
  passphrase: string;
  certificatePem: string;
}): Promise<RotationResult> {
  const paths = dataDirPaths(options.dataDir);
  completeRotation(paths);
  refuseTokenHeldIssuingKey(paths);
  if (!existsSync(paths.pendingIssuingKey)) {
    throw new RotationNotPendingError(
      `no issuing key waits for a certificate in ${options.dataDir}; run \`lantern-ca ca rotate-issuing --data-dir ${options.dataDir} --csr-out F\` first`,
    );
  }
  const pendingKey = readFileSync(paths.pendingIssuingKey);
  const pendingSpki = createPublicKey(
    readKeyFile(paths.pendingIssuingKey, options.passphrase).privateKey,
  ).export({ type: 'spki', format: 'der' });
  const rootPem = readFileSync(paths.rootCertificate, 'utf8');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(options.certificatePem);
  } catch {
    throw new IssuingCertificateMismatchError('that is not a PEM certificate');
  }
  const root = new X509Certificate(rootPem);
  if (!certificate.publicKey.export({ type: 'spki', format: 'der' }).equals(pendingSpki)) {
    throw new IssuingCertificateMismatchError(
      'the certificate is for another key than the one this CA is waiting for (an older CSR?)',
    );
  }
  if (!certificate.ca || !certificate.checkIssued(root) || !certificate.verify(root.publicKey)) {
    throw new IssuingCertificateMismatchError(
      "the certificate is not a CA certificate signed by this CA's root",
    );
  }
  const der = certificate.raw;
  const currentPem = readFileSync(paths.issuingCertificate, 'utf8');
  const retiredKeyId = keyIdOfCertificate(currentPem);
  writePrivateFile(
    join(paths.retiredIssuers, `${retiredKeyId}.key.pem`),
    readFileSync(paths.issuingKey),
  );
  writePublicFile(join(paths.retiredIssuers, `${retiredKeyId}.pem`), currentPem);
  writePrivateFile(paths.nextIssuingKey, pendingKey);
  writePublicFile(paths.nextIssuingCertificate, toPem(der));
  completeRotation(paths);
  rmSync(paths.pendingIssuingKey, { force: true });
  return {
    retiredKeyId,
    issuingKeyId: keyIdentifier(pendingSpki).toString('hex'),
    issuingFingerprint: sha256Hex(der),
    commonName: subjectCommonName(certificate),
    notAfter: new Date(certificate.validTo).toISOString(),
  };
}

function refuseTokenHeldIssuingKey(paths: DataDirPaths): void {
  if (readPkcs11Settings(paths) !== null) {
    throw new HsmOperationUnsupportedError(
      'rotate-issuing makes a file-held issuing key; this CA keeps its issuing key on a PKCS#11 token',
    );
  }
}

const subjectCommonName = (certificate: X509Certificate): string =>
  /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1] ?? '';

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
